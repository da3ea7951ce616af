// A big installation's analysis on the real parts: half a million builds in PostgreSQL, analyzed through
// POST /v1/analyzer/run by the analyzer process, whose job must never be taken for stalled — the analysis runs in a
// worker thread while the analyzer's event loop keeps renewing its claim. The claim is made short (3 s) so that an
// analysis blocking the event loop (it computes for 4 s and more on this history) would lose it and show as stalled.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QueueEvents } from 'bullmq';
import { sql } from 'drizzle-orm';
import { realisticFamilies } from '../bench/analyzer/trace-generator.ts';
import { scaleHistory } from '../bench/analyzer/scale.ts';
import { ANALYZER_QUEUE } from '../core/queues.ts';
import { call } from './helpers/api-client.ts';
import { syntheticCatalog } from './helpers/catalogs.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

describe('analyzer at scale', () => {
  let dir: string;
  let kiln: TestKiln;
  let builds = 0;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-scale-'));
    const catalog = await syntheticCatalog(dir, realisticFamilies);
    kiln = await startTestKiln({
      db: 'postgres',
      analyzer: true,
      env: { KILN_CATALOG_DIR: catalog, KILN_ANALYZER_INTERVAL_SECONDS: '0', KILN_RETENTION_INTERVAL_SECONDS: '0', KILN_ANALYZER_LOCK_SECONDS: '3', KILN_TEMPLATE_MAX: '20' },
    });
    // The scale bench's history, its last 27 days (about 515k builds: all inside the 28-day window however long the
    // set-up takes), ending an hour ago, written in batches by SQL.
    const all = scaleHistory().rows;
    const rows = all.filter((r) => r.t >= all.at(-1)!.t - 27 * 86400);
    const shift = Date.now() / 1000 - 3600 - rows.at(-1)!.t;
    for (let i = 0; i < rows.length; i += 50_000) {
      const batch = rows.slice(i, i + 50_000);
      const combos = `{${batch.map((r) => `"${r.components.join('+')}"`).join(',')}}`;
      const finished = `{${batch.map((r) => `"${new Date((r.t + shift) * 1000).toISOString()}"`).join(',')}}`;
      await kiln.infra.database.db.execute(sql`
        insert into builds (id, project, spec, plan, status, image_ref, started_at, finished_at)
        select gen_random_uuid(), 'default', '{}'::jsonb,
          jsonb_build_object(
            'root', jsonb_build_object('name', 'debian-bookworm', 'image', 'kiln-root:debian-bookworm'),
            'base', jsonb_build_object('kind', 'root', 'image', 'kiln-root:debian-bookworm'),
            'components', (select jsonb_agg(jsonb_build_object('name', split_part(k, '@', 1), 'version', split_part(k, '@', 2), 'key', k, 'recipeHash', 'synthetic')) from unnest(string_to_array(c, '+')) k)),
          'succeeded', 'synthetic', f - interval '1 minute', f
        from unnest(${combos}::text[], ${finished}::timestamptz[]) as u(c, f)`);
      builds += batch.length;
    }
    // As a live database would be after such a load (and so that no autovacuum of it, which this role cannot
    // interrupt, is still running when the database is dropped).
    await kiln.infra.database.db.execute(sql`vacuum (analyze) builds`);
  });
  after(async () => {
    await kiln?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('analyzes 500k builds through POST /v1/analyzer/run, and its job never stalls', async () => {
    const events = new QueueEvents(ANALYZER_QUEUE, { connection: kiln.infra.redis('worker'), prefix: kiln.config.KILN_QUEUE_PREFIX });
    const stalled: string[] = [];
    events.on('stalled', ({ jobId }) => stalled.push(jobId));
    await events.waitUntilReady();
    try {
      const res = await call({ url: kiln.url, token: kiln.adminToken }, `/v1/analyzer/run?wait=120`, { method: 'POST' });
      assert.equal(res.status, 200, await res.clone().text());
      const run = (await res.json()) as { summary: string; decisions: { historyBuilds: number; build: unknown[]; halfLifeDays: number } };
      assert.equal(run.decisions.historyBuilds, builds, run.summary);
      assert.ok(run.decisions.build.length > 0, run.summary);
      assert.deepEqual(stalled, [], 'the analysis job was taken for stalled');
    } finally {
      await events.close();
    }
  });
});

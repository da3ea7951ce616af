// A project's retention rule on the real registry: it deletes exactly the tags the rule names (checked against the
// registry's own tag list), never a digest another tag still points to, and runs on the analyzer's schedule.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { call, postBuild, upload, waitForBuild, type Target } from './helpers/api-client.ts';
import { tagManifest } from './helpers/registry-client.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

interface RetentionResult {
  deleted: { repository: string; tag: string }[];
  keptBack: { repository: string; tag: string; reason: string }[];
  kept: number;
}

async function build(kiln: TestKiln, image: string): Promise<string> {
  const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho ${image}\n`), 'app');
  const res = await postBuild(kiln, { uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const b = await waitForBuild(kiln, res.body.id);
  assert.equal(b.status, 'succeeded', b.error ?? '');
  return b.id;
}

const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('image retention', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  let admin: Target;
  const repo = (kiln: TestKiln, name: string) => `${kiln.config.REGISTRY_PREFIX}/${kiln.project}/${name}`;
  const registryTags = async (name: string) => (await kiln.infra.registry.tags(repo(kiln, name))).sort();
  const rule = (body: unknown) => call(admin, `/v1/projects/${kiln.project}/retention`, { method: 'PUT', ...json(body) });
  const runNow = async (): Promise<RetentionResult> => {
    const res = await call(admin, `/v1/projects/${kiln.project}/retention/run`, { method: 'POST' });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as RetentionResult;
  };
  const tagsOf = (list: { repository: string; tag: string }[]) => list.map((i) => `${i.repository}:${i.tag}`).sort();

  before(async () => {
    // PostgreSQL: the successor below (an analyzer process joining) sees the same database.
    kiln = await startTestKiln({ db: 'postgres', builder: true, env: { KILN_ANALYZER_INTERVAL_SECONDS: '0', KILN_RETENTION_INTERVAL_SECONDS: '0' } });
    admin = { url: kiln.url, token: kiln.adminToken };
    // One after another, so "newest" is unambiguous.
    for (const tag of ['1', '2', '3', '4', '5']) await build(kiln, `keep/app:${tag}`);
    await build(kiln, 'keep/other:1');
  });
  after(() => kiln?.close());

  it('is for admins to set, and refuses a rule that keeps nothing in particular', async () => {
    assert.equal((await call(kiln, `/v1/projects/${kiln.project}/retention`, { method: 'PUT', ...json({ keepNewest: 2 }) })).status, 403);
    const empty = await rule({});
    assert.equal(empty.status, 400);
    assert.match(await empty.text(), /give keepNewest, keepDays or both/);
    assert.equal((await call(admin, '/v1/projects/nope/retention', { method: 'PUT', ...json({ keepNewest: 1 }) })).status, 404);
    assert.equal((await call(admin, `/v1/projects/${kiln.project}/retention`)).status, 404, 'no rule yet');
  });

  it('keeps each repository’s newest N tags, and keeps back a digest another tag points to', async () => {
    // Someone tagged app:2's manifest as app:pinned, outside kiln: deleting that digest would take pinned with it.
    await tagManifest(kiln.infra.registry, repo(kiln, 'keep/app'), '2', 'pinned');
    assert.equal((await rule({ keepNewest: 2 })).status, 200);
    const result = await runNow();
    assert.deepEqual(tagsOf(result.deleted), ['keep/app:1', 'keep/app:3']);
    assert.deepEqual(tagsOf(result.keptBack), ['keep/app:2']);
    assert.match(result.keptBack[0]!.reason, /tag\(s\) pinned still point at its digest/);
    assert.deepEqual(await registryTags('keep/app'), ['2', '4', '5', 'pinned']);
    assert.deepEqual(await registryTags('keep/other'), ['1'], 'another repository keeps its own newest');

    const images = ((await (await call(kiln, '/v1/images?repository=keep/app')).json()) as { items: { tag: string; status: string; deletedBy: string | null }[] }).items;
    assert.deepEqual(images.map((i) => `${i.tag}:${i.status}:${i.deletedBy}`), ['5:current:null', '4:current:null', '3:deleted:retention', '2:current:null', '1:deleted:retention']);
    const recorded = (await (await call(admin, `/v1/projects/${kiln.project}/retention`)).json()) as { lastRunAt: string; lastResult: RetentionResult };
    assert.ok(recorded.lastRunAt);
    assert.deepEqual(tagsOf(recorded.lastResult.deleted), ['keep/app:1', 'keep/app:3']);
  });

  it('keeps tags younger than D days, or among the newest N, and deletes on the analyzer’s schedule', async () => {
    // app:4 was pushed "two days ago": older than a day, and not the newest.
    const appRepo = 'keep/app';
    await kiln.infra.database.db.execute(sql`update images set pushed_at = now() - interval '2 days' where project = ${kiln.project} and repository = ${appRepo} and tag = '4'`);
    assert.equal((await rule({ keepNewest: 1, keepDays: 1 })).status, 200);

    // An analyzer that applies rules every hour applies them once at its start (BullMQ's `every` scheduler).
    await kiln.close({ keepData: true });
    kiln = await startTestKiln({ successorOf: kiln, builder: true, analyzer: true, env: { KILN_ANALYZER_INTERVAL_SECONDS: '0', KILN_RETENTION_INTERVAL_SECONDS: '3600' } });
    admin = { url: kiln.url, token: kiln.adminToken };
    let recorded: { lastResult: RetentionResult | null; lastRunAt: string | null } = { lastResult: null, lastRunAt: null };
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 300))) {
      recorded = (await (await call(admin, `/v1/projects/${kiln.project}/retention`)).json()) as typeof recorded;
      if (recorded.lastResult && tagsOf(recorded.lastResult.deleted).includes('keep/app:4')) break;
    }
    assert.deepEqual(tagsOf(recorded.lastResult?.deleted ?? []), ['keep/app:4'], JSON.stringify(recorded));
    assert.deepEqual(await registryTags('keep/app'), ['2', '5', 'pinned']);
    assert.deepEqual(await registryTags('keep/other'), ['1']);
  });

  it('deletes nothing once the rule is removed', async () => {
    assert.equal((await call(admin, `/v1/projects/${kiln.project}/retention`, { method: 'DELETE' })).status, 204);
    assert.equal((await call(admin, `/v1/projects/${kiln.project}/retention/run`, { method: 'POST' })).status, 404);
    assert.deepEqual(await registryTags('keep/app'), ['2', '5', 'pinned']);
  });
});

// Fault: the queue's Redis restarts (stopped by its pid, started again) while 2 builds run and 10 wait. Every build
// must still reach an end, none may run twice, none may be lost. The figure is printed. The Redis is this test's own
// (persistent, on a free port); the shared one is never touched.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { call, getBuild, logUntil, postBuild, upload, waitForBuild, type BuildView } from '../helpers/api-client.ts';
import { removeSlowLayers, slowCatalog } from '../helpers/catalogs.ts';
import { startOwnRedis, type OwnRedis } from '../helpers/own-redis.ts';
import { manifestDigest, repoAndTag } from '../helpers/registry-client.ts';
import { startTestKiln, type TestKiln } from '../helpers/test-kiln.ts';
import { waitUntil } from '../helpers/wait.ts';

const RUNNING = 2;
const WAITING = 10;
/** How long Redis stays down: long enough for every client to notice, shorter than a builder's claim (30 s). */
const DOWN_SECONDS = 5;

describe('Redis restarts while builds run and wait', { timeout: 900_000 }, () => {
  let redis: OwnRedis;
  let kiln: TestKiln;
  let dir: string;
  const nonce = randomBytes(4).toString('hex');
  before(async () => {
    redis = await startOwnRedis({ persistent: true });
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-redis-restart-'));
    kiln = await startTestKiln({
      builder: true,
      env: { REDIS_URL: redis.url, KILN_BUILD_CONCURRENCY: String(RUNNING), KILN_CATALOG_DIR: await slowCatalog(dir, { seconds: 20, nonce }) },
    });
  });
  after(async () => {
    if (redis && !redis.running()) await redis.start(); // kiln cleans its keys up in it
    if (kiln) await removeSlowLayers(kiln.infra.docker, nonce);
    await kiln?.close();
    await redis?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`${RUNNING} running and ${WAITING} waiting builds: all reach an end, none runs twice, none is lost`, async (t) => {
    const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho survived-${nonce}\n`), 'app.sh');
    const ids: string[] = [];
    for (let i = 0; i < RUNNING + WAITING; i++) {
      const res = await postBuild(kiln, { uploadId: up.body.id, components: ['slow'], binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image: `restart/app:${i}` });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      ids.push(res.body.id as string);
    }
    // The first two are in their slow step (20 s); the ten others wait behind them.
    await Promise.all(ids.slice(0, RUNNING).map((id) => logUntil(kiln, id, (text) => text.includes('slow-line-2')).reached));
    const before = await Promise.all(ids.map((id) => getBuild(kiln, id)));
    assert.deepEqual(before.map((b) => b.status), [...Array(RUNNING).fill('running'), ...Array(WAITING).fill('queued')]);

    const pid = redis.pid();
    await redis.stop();
    const down = Date.now();
    await sleep(DOWN_SECONDS * 1000); // the outage itself, not a wait for something
    await redis.start();
    t.diagnostic(`redis pid ${pid} stopped (SIGTERM) for ${((Date.now() - down) / 1000).toFixed(1)} s, started again as pid ${redis.pid()}`);

    const ended = await Promise.all(ids.map((id) => waitForBuild(kiln, id, 600_000).catch(() => undefined)));
    const lost = ended.filter((b) => b === undefined).length;
    const runs: { build: BuildView; attempts: number; pushes: number }[] = [];
    for (const b of ended.filter((x): x is BuildView => x !== undefined)) {
      const log = await (await call(kiln, `/v1/builds/${b.id}/logs`)).text();
      runs.push({ build: b, attempts: (log.match(/kiln: attempt \d+ on builder/g) ?? []).length, pushes: (log.match(/kiln: pushed /g) ?? []).length });
    }
    const twice = runs.filter((r) => r.attempts > 1 || r.pushes > 1);
    const statuses = runs.reduce<Record<string, number>>((n, r) => ({ ...n, [r.build.status]: (n[r.build.status] ?? 0) + 1 }), {});
    t.diagnostic(
      `redis restart: ${ids.length} builds (${RUNNING} running, ${WAITING} waiting), ${runs.length} reached an end ${JSON.stringify(statuses)}, ` +
        `${twice.length} ran twice, ${lost} lost`,
    );
    assert.equal(lost, 0, 'no build was lost');
    assert.deepEqual(twice.map((r) => `${r.build.id}: ${r.attempts} attempts, ${r.pushes} pushes`), [], 'no build ran twice');
    assert.deepEqual(statuses, { succeeded: ids.length }, runs.map((r) => `${r.build.id} ${r.build.status} ${r.build.error ?? ''}`).join('\n'));
    // And each image under its tag is the one recorded.
    for (const { build } of runs) {
      const { registry, repository, tag } = repoAndTag(build.imageRef);
      assert.equal(await manifestDigest(registry, repository, tag), build.digest);
    }
    await waitUntil(async () => (await kiln.api.buildQueue.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized')) === 0, 'the queue is empty');
  });
});

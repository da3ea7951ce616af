// The builder on its bad days, on the real parts: live logs, cancel, timeouts, graceful shutdown, priorities, a
// registry that goes away during a build, a builder SIGKILLed mid-build, and two builder processes sharing a queue.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startBuilder } from '../builder/builder-process.ts';
import { call, followLog, getBuild, logUntil, postBuild, upload, waitForBuild, type BuildView, type Target } from './helpers/api-client.ts';
import { removeSlowLayers, slowCatalog } from './helpers/catalogs.ts';
import { runImage } from './helpers/docker-run.ts';
import { manifestDigest, repoAndTag } from './helpers/registry-client.ts';
import { spawnBuilder, stopChild } from './helpers/builder-process.ts';
import { startScratchRegistry, type ScratchRegistry } from './helpers/scratch-registry.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';


/** A tiny program: a shell script that says who it is (no JDK needed, so builds take a second or two). */
const hello = (word: string) => Buffer.from(`#!/bin/sh\necho hello-${word}\n`);

async function uploadHello(kiln: Target, word: string): Promise<string> {
  const up = await upload(kiln, hello(word), 'hello');
  assert.equal(up.status, 201, JSON.stringify(up.body));
  return up.body.id;
}

const spec = (uploadId: string, image: string, extra: Record<string, unknown> = {}) => ({
  uploadId,
  binaryPath: '/usr/local/bin/hello',
  entrypoint: ['/usr/local/bin/hello'],
  image,
  ...extra,
});

async function createBuild(kiln: Target, body: unknown): Promise<string> {
  const res = await postBuild(kiln, body);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id as string;
}

/** Containers (running or not) whose command mentions `marker`: what a build's RUN step left in the engine. */
async function containersMentioning(kiln: TestKiln, marker: string): Promise<string[]> {
  const all = await kiln.infra.docker.listContainers({ all: true });
  return all.filter((c) => c.Command.includes(marker) || JSON.stringify(c.Labels).includes(marker)).map((c) => c.Id);
}


describe('live logs, cancel, timeout and shutdown on one builder', { timeout: 900_000 }, () => {
  let kiln: TestKiln;
  let dir: string;
  const nonce = randomBytes(4).toString('hex');

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-robust-'));
    kiln = await startTestKiln({
      builder: true,
      env: { KILN_CATALOG_DIR: await slowCatalog(dir, { seconds: 8, nonce }), KILN_BUILD_CONCURRENCY: '2' },
    });
  });
  after(async () => {
    if (kiln) await removeSlowLayers(kiln.infra.docker, nonce, `cancel-${nonce}`, `timeout-${nonce}`, `shutdown-${nonce}`);
    await kiln?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a follower receives log lines while the build runs, and the full log afterwards equals what was streamed', async () => {
    const id = await createBuild(kiln, spec(await uploadHello(kiln, nonce), 'logs:1', { components: ['slow'] }));
    const statusAtLine: string[] = [];
    const followed = await followLog(kiln, id, (text) => {
      if (text.includes('slow-line-2')) void getBuild(kiln, id).then((b) => statusAtLine.push(b.status));
    });
    assert.equal(followed.end, 'succeeded');
    const lines = followed.chunks.filter((c) => c.text.includes('slow-line-'));
    assert.ok(lines.length >= 2, 'the slow step printed lines');
    const build = await getBuild(kiln, id);
    assert.equal(build.status, 'succeeded', build.error ?? '');
    // Lines arrived as they were printed (seconds apart), not all at the end.
    const finishedAt = Date.parse((build as BuildView & { finishedAt: string }).finishedAt);
    assert.ok(lines[0]!.at < finishedAt - 3000, `first line ${finishedAt - lines[0]!.at} ms before the end`);
    assert.deepEqual(statusAtLine, ['running']);
    const plain = await call(kiln, `/v1/builds/${id}/logs`);
    assert.equal(plain.headers.get('x-kiln-build-status'), 'succeeded');
    assert.equal(await plain.text(), followed.chunks.map((c) => c.text).join(''));
    // A late follower of an ended build gets the whole log at once, then the end.
    const late = await followLog(kiln, id);
    assert.equal(late.chunks.map((c) => c.text).join(''), followed.chunks.map((c) => c.text).join(''));
    assert.equal(late.end, 'succeeded');
  });

  it("after the push the engine keeps the components' layers (the cache) and drops the image and the binary's layers", async () => {
    const id = await createBuild(kiln, spec(await uploadHello(kiln, `${nonce}-tidy`), 'tidy:1', { components: ['slow'] }));
    const build = await waitForBuild(kiln, id, 120_000);
    assert.equal(build.status, 'succeeded', build.error ?? '');
    const log = await (await call(kiln, `/v1/builds/${id}/logs`)).text();
    // Each step of the classic builder's log ends with ` ---> <image id>`.
    const stepImages = log
      .split(/^Step \d+\/\d+ : /m)
      .slice(1)
      .map((chunk) => ({ instruction: chunk.split('\n')[0]!, image: [...chunk.matchAll(/^ ---> ([0-9a-f]{12})$/gm)].at(-1)?.[1] }));
    const exists = (ref: string) => kiln.infra.docker.getImage(ref).inspect().then(() => true, () => false);
    const slowStep = stepImages.find((s) => s.instruction.startsWith('RUN') && s.instruction.includes('slow-'));
    assert.ok(slowStep?.image && (await exists(slowStep.image)), 'the component step stays as build cache');
    const userSteps = stepImages.filter((s) => /^(COPY \["binary"|ENTRYPOINT|LABEL)/.test(s.instruction));
    assert.ok(userSteps.length >= 3, JSON.stringify(stepImages));
    for (const s of userSteps) assert.equal(await exists(s.image!), false, `${s.instruction} (${s.image}) was removed`);
    assert.equal(await exists(build.imageRef), false, 'the pushed image is in the registry, not on the engine');
    assert.equal((await runImage(kiln.infra.docker, build.imageRef)).output.trim(), `hello-${nonce}-tidy`);
  });

  it('canceling a running build stops it within seconds: canceled, no container left, nothing pushed', async () => {
    const catalog = await slowCatalog(path.join(dir, 'cancel'), { seconds: 120, nonce: `cancel-${nonce}` });
    const k = await startTestKiln({ builder: true, env: { KILN_CATALOG_DIR: catalog } });
    try {
      const id = await createBuild(k, spec(await uploadHello(k, nonce), 'cancel:1', { components: ['slow'] }));
      const log = logUntil(k, id, (t) => t.includes('slow-line-2'));
      await log.reached;
      assert.ok((await containersMentioning(k, `cancel-${nonce}`)).length > 0, 'the step runs in a container of the engine');
      const t0 = Date.now();
      const res = await call(k, `/v1/builds/${id}/cancel`, { method: 'POST' });
      assert.equal(res.status, 202);
      assert.equal(((await res.json()) as { status: string }).status, 'running');
      const build = await waitForBuild(k, id, 30_000);
      assert.equal(build.status, 'canceled');
      assert.ok(Date.now() - t0 < 10_000, `ended ${Date.now() - t0} ms after the cancel`);
      assert.equal((await log.done).end, 'canceled');
      // The engine stops and removes the step's container once the build request is gone.
      const deadline = Date.now() + 15_000;
      while ((await containersMentioning(k, `cancel-${nonce}`)).length > 0 && Date.now() < deadline) await sleep(500);
      assert.deepEqual(await containersMentioning(k, `cancel-${nonce}`), []);
      const { registry, repository, tag } = repoAndTag(build.imageRef);
      assert.equal(await manifestDigest(registry, repository, tag), undefined, 'nothing was pushed');
      assert.equal(build.digest, null);
      const again = await call(k, `/v1/builds/${id}/cancel`, { method: 'POST' });
      assert.equal(again.status, 409);
      assert.match(((await again.json()) as { detail: string }).detail, /already ended \(canceled\)/);
    } finally {
      await k.close();
    }
  });

  it('a build past its timeout is stopped and fails once, saying so; a timeout over the max is a 400', async () => {
    const catalog = await slowCatalog(path.join(dir, 'timeout'), { seconds: 120, nonce: `timeout-${nonce}` });
    const k = await startTestKiln({ builder: true, env: { KILN_CATALOG_DIR: catalog, KILN_BUILD_TIMEOUT_SECONDS: '300', KILN_BUILD_TIMEOUT_MAX_SECONDS: '600' } });
    try {
      const uploadId = await uploadHello(k, nonce);
      const tooLong = await postBuild(k, spec(uploadId, 'timeout:1', { components: ['slow'], timeoutSeconds: 601 }));
      assert.equal(tooLong.status, 400);
      assert.deepEqual(tooLong.body.problems.map((p: { field: string }) => p.field), ['timeoutSeconds']);
      const id = await createBuild(k, spec(uploadId, 'timeout:1', { components: ['slow'], timeoutSeconds: 10 }));
      const build = await waitForBuild(k, id, 60_000);
      assert.equal(build.status, 'failed');
      assert.match(build.error ?? '', /ran longer than its timeout of 10 s/);
      assert.equal(build.attempts, 1);
      const log = await (await call(k, `/v1/builds/${id}/logs`)).text();
      assert.equal(log.match(/kiln: attempt \d+ on builder/g)?.length, 1, log);
    } finally {
      await k.close();
    }
  });

  it('on shutdown, a build still running after the grace period goes back to the queue and another builder finishes it', async () => {
    const catalog = await slowCatalog(path.join(dir, 'shutdown'), { seconds: 6, nonce: `shutdown-${nonce}` });
    const k = await startTestKiln({ builder: true, env: { KILN_CATALOG_DIR: catalog } });
    try {
      const id = await createBuild(k, spec(await uploadHello(k, nonce), 'shutdown:1', { components: ['slow'] }));
      await logUntil(k, id, (t) => t.includes('slow-line-1')).reached;
      await k.builder!.close(500);
      const requeued = await getBuild(k, id);
      assert.equal(requeued.status, 'queued');
      const next = await startBuilder(k.infra);
      try {
        const build = await waitForBuild(k, id, 120_000);
        assert.equal(build.status, 'succeeded', build.error ?? '');
        assert.equal(build.attempts, 1, 'a shutdown does not spend an attempt');
        const log = await (await call(k, `/v1/builds/${id}/logs`)).text();
        assert.match(log, /is shutting down; the build goes back to the queue/);
        assert.equal((await runImage(k.infra.docker, build.imageRef)).output.trim(), `hello-${nonce}`);
      } finally {
        await next.close();
      }
    } finally {
      await k.close();
    }
  });
});

describe('priorities and queue position', { timeout: 900_000 }, () => {
  let kiln: TestKiln;
  before(async () => {
    kiln = await startTestKiln({ builder: false, env: { KILN_BUILD_CONCURRENCY: '1' } });
  });
  after(async () => kiln?.close());

  it('30 queued ci builds, then one interactive: it is next in the queue and starts before the backlog drains', async () => {
    const uploadId = await uploadHello(kiln, 'prio');
    const ci: string[] = [];
    for (let i = 0; i < 30; i++) ci.push(await createBuild(kiln, spec(uploadId, `ci:${i}`, { priority: 'ci' })));
    const interactive = await createBuild(kiln, spec(uploadId, 'person:1'));

    const queue = await (await call(kiln, '/v1/queue')).json();
    assert.deepEqual(queue, { waiting: 31, active: 0, retrying: 0 });
    assert.equal((await getBuild(kiln, interactive) as BuildView & { queuePosition: number }).queuePosition, 1);
    assert.equal((await getBuild(kiln, ci[0]!) as BuildView & { queuePosition: number }).queuePosition, 2);
    assert.equal((await getBuild(kiln, ci[29]!) as BuildView & { queuePosition: number }).queuePosition, 31);

    const builder = await startBuilder(kiln.infra);
    try {
      const done = await waitForBuild(kiln, interactive, 120_000);
      assert.equal(done.status, 'succeeded', done.error ?? '');
      const ciBuilds = await Promise.all(ci.map((id) => getBuild(kiln, id)));
      const startedBefore = ciBuilds.filter((b) => {
        const started = (b as BuildView & { startedAt: string | null }).startedAt;
        return started !== null && Date.parse(started) < Date.parse((done as BuildView & { startedAt: string }).startedAt);
      });
      assert.deepEqual(startedBefore.map((b) => b.id), [], 'no ci build started before the interactive one');
      assert.ok(ciBuilds.filter((b) => b.status === 'queued').length >= 25, 'the ci backlog had not drained');
    } finally {
      // Cancel the rest of the backlog (queued builds end at once), then stop.
      for (const id of ci) await call(kiln, `/v1/builds/${id}/cancel`, { method: 'POST' });
      await builder.close();
    }
    const ended = await Promise.all(ci.map((id) => waitForBuild(kiln, id, 60_000)));
    assert.ok(ended.every((b) => b.status === 'succeeded' || b.status === 'canceled'));
    assert.ok(ended.filter((b) => b.status === 'canceled').length >= 25);
  });
});

describe('builders in their own processes, on PostgreSQL', { timeout: 900_000 }, () => {
  let kiln: TestKiln;
  let dir: string;
  const children: ChildProcess[] = [];
  const nonce = randomBytes(4).toString('hex');
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-crash-'));
    kiln = await startTestKiln({
      db: 'postgres',
      builder: false,
      env: { KILN_CATALOG_DIR: await slowCatalog(dir, { seconds: 10, nonce: `crash-${nonce}` }), KILN_BUILD_LOCK_SECONDS: '3' },
    });
  });
  after(async () => {
    for (const c of children) await stopChild(c);
    if (kiln) await removeSlowLayers(kiln.infra.docker, `crash-${nonce}`);
    await kiln?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a builder SIGKILLed during a component step: a second builder takes the build over, it succeeds, one image under the tag', async () => {
    const a = spawnBuilder(kiln, { KILN_BUILD_CONCURRENCY: '1' });
    children.push(a);
    const id = await createBuild(kiln, spec(await uploadHello(kiln, nonce), 'crash:1', { components: ['slow'] }));
    await logUntil(kiln, id, (t) => t.includes('slow-line-2')).reached;
    const b = spawnBuilder(kiln, { KILN_BUILD_CONCURRENCY: '1' });
    children.push(b);
    a.kill('SIGKILL');
    const build = await waitForBuild(kiln, id, 180_000);
    assert.equal(build.status, 'succeeded', build.error ?? '');
    const log = await (await call(kiln, `/v1/builds/${id}/logs`)).text();
    const runners = [...log.matchAll(/kiln: attempt \d+ on builder (\S+)/g)].map((m) => m[1]);
    assert.equal(runners.length, 2, log);
    assert.equal(runners[0], `${(await import('node:os')).hostname()}:${a.pid}`);
    assert.equal(runners[1], `${(await import('node:os')).hostname()}:${b.pid}`);
    const { registry, repository, tag } = repoAndTag(build.imageRef);
    assert.equal(await manifestDigest(registry, repository, tag), build.digest, 'the tag holds the recorded image');
    const run = await runImage(kiln.infra.docker, build.imageRef, []);
    assert.equal(run.output.trim(), `hello-${nonce}`);
    assert.deepEqual(await containersMentioning(kiln, `crash-${nonce}`), [], 'the killed build left no container');
  });

  it('two builder processes, 20 builds: 20 terminal states, each run to completion once, both builders used', async () => {
    children.push(spawnBuilder(kiln, { KILN_BUILD_CONCURRENCY: '2' }));
    const uploadId = await uploadHello(kiln, 'many');
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await createBuild(kiln, spec(uploadId, `many:${i}`)));
    const builds = await Promise.all(ids.map((id) => waitForBuild(kiln, id, 240_000)));
    assert.deepEqual(builds.map((b) => b.status), Array(20).fill('succeeded'), builds.flatMap((b) => (b.error ? [`${b.id}: ${b.error}`] : [])).join('\n'));
    const runners = new Set<string>();
    for (const b of builds) {
      assert.equal(b.attempts, 1);
      const log = await (await call(kiln, `/v1/builds/${b.id}/logs`)).text();
      const runs = [...log.matchAll(/kiln: attempt \d+ on builder (\S+)/g)].map((m) => m[1]!);
      assert.equal(runs.length, 1, `build ${b.id} ran once:\n${log}`);
      assert.equal((log.match(/kiln: pushed /g) ?? []).length, 1);
      runners.add(runs[0]!);
      const { registry, repository, tag } = repoAndTag(b.imageRef);
      assert.equal(await manifestDigest(registry, repository, tag), b.digest);
    }
    assert.equal(runners.size, 2, `both builders took builds: ${[...runners].join(', ')}`);
  });
});

describe('a registry that goes away', { timeout: 900_000 }, () => {
  let registry: ScratchRegistry;
  let dir: string;
  before(async () => {
    registry = await startScratchRegistry('plain');
    dir = registry.dir;
    await registry.stop();
  });
  after(() => registry?.remove());
  const startRegistry = () => registry.start();
  const stopRegistry = () => registry.stop();

  for (const comesBack of [true, false]) {
    it(comesBack ? 'stopped during the push, back within the retry window: the build succeeds' : 'stopped during the push for good: the build fails after its attempts, naming the registry', async () => {
      await startRegistry();
      const nonce = randomBytes(4).toString('hex');
      const catalog = await slowCatalog(path.join(dir, nonce), { seconds: 1, nonce, megabytes: 160 });
      const kiln = await startTestKiln({
        builder: true,
        // No riding out within the attempt (registry-outage.test.ts covers that): these cases are about the queue's attempts.
        env: { KILN_CATALOG_DIR: catalog, ...registry.kilnEnv(), KILN_BUILD_ATTEMPTS: '3', KILN_BUILD_BACKOFF_SECONDS: '1', KILN_OUTAGE_RETRY_SECONDS: '0' },
      });
      try {
        const id = await createBuild(kiln, spec(await uploadHello(kiln, nonce), 'blip:1', { components: ['slow'] }));
        const failedOnce = logUntil(kiln, id, (t) => t.includes('attempt 1 failed'));
        // The step wrote 160 MB of random data: compressing and sending that layer takes seconds, so the registry
        // goes away in the middle of the push.
        await logUntil(kiln, id, (t) => t.includes('kiln: pushing')).reached;
        await stopRegistry();
        if (comesBack) {
          await failedOnce.reached;
          await startRegistry();
        }
        const build = await waitForBuild(kiln, id, 120_000);
        const log = await (await call(kiln, `/v1/builds/${id}/logs`)).text();
        if (comesBack) {
          assert.equal(build.status, 'succeeded', `${build.error}\n${log}`);
          assert.ok(build.attempts >= 2, `attempts ${build.attempts}`);
          assert.match(log, /attempt 1 failed \(transient, may be retried\): push to registry 127\.0\.0\.1:\d+ failed/);
          const { registry: host, repository, tag } = repoAndTag(build.imageRef);
          assert.equal(await manifestDigest(host, repository, tag), build.digest);
        } else {
          assert.equal(build.status, 'failed');
          assert.equal(build.attempts, 3);
          assert.match(build.error ?? '', new RegExp(`push to registry ${registry.host.replace(/\./g, '\\.')} failed.*gave up after 3 attempts`, 's'));
          assert.equal(log.match(/kiln: attempt \d+ on builder/g)?.length, 3);
        }
      } finally {
        await startRegistry(); // (if stopped) the cleanup deletes what was pushed
        await removeSlowLayers(kiln.infra.docker, nonce);
        await kiln.close();
        await stopRegistry();
      }
    });
  }
});

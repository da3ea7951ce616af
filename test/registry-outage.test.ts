// A registry that restarts (a deploy, a Harbor upgrade) costs a build a delay, not a failure: the test's own registry
// is SIGKILLed for 20 s (longer if the build has not yet waited 10 s) in the middle of a composed build's assembly
// and, in a second case, of an installed build's push; both builds succeed within their first attempt, and their logs
// tell every failed call and the wait.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { call, logUntil, postBuild, upload, waitForBuild, type BuildView } from './helpers/api-client.ts';
import { removeSlowLayers, slowCatalog } from './helpers/catalogs.ts';
import { runImage } from './helpers/docker-run.ts';
import { manifestDigest, repoAndTag } from './helpers/registry-client.ts';
import { startScratchRegistry, type ScratchRegistry } from './helpers/scratch-registry.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const OUTAGE_MS = 20_000;
/** How long the registry stays away after the build's first failed call, at least. */
const MIN_WAIT_MS = 10_000;

/**
 * A shell script that says hello, followed by `megabytes` of random bytes it never reaches (`exit` comes first): the
 * binary layer is that large, so writing it to the registry takes seconds and the registry dies in the middle of it.
 */
const paddedScript = (word: string, megabytes: number) => Buffer.concat([Buffer.from(`#!/bin/sh\necho hello-${word}\nexit 0\n`), randomBytes(megabytes * 1024 * 1024)]);

/** What the build's log says about the outage: each failed call, each wait, and the call that worked again. */
function outageFigures(log: string) {
  const failures = [...log.matchAll(/^kiln: (.+?) failed at attempt (\d+): .*; retrying in ([\d.]+) s$/gm)];
  const recovered = [...log.matchAll(/^kiln: (.+?) succeeded at attempt (\d+), after ([\d.]+) s of waiting \(([\d.]+) s since the first failure\)$/gm)];
  return {
    failures: failures.length,
    waits: failures.map((m) => Number(m[3])),
    recovered: recovered.map((m) => ({ what: m[1]!, attempt: Number(m[2]), waited: Number(m[3]), since: Number(m[4]) })),
  };
}

describe('a registry restart during a build', { timeout: 600_000 }, () => {
  let registry: ScratchRegistry;
  before(async () => {
    registry = await startScratchRegistry('plain');
  });
  after(() => registry?.remove());

  /**
   * Starts `build`, SIGKILLs the registry once the log shows `marker`, and brings it back once it has been away 20 s
   * and the build's first failed call is at least 10 s old: on a loaded machine the build may reach the registry late
   * in the outage, and the wait it rides out is what the test is about. Returns the build's end, and how long the test
   * itself saw the build wait (from its first failure in the log to the registry's return: a lower bound on the wait
   * the log must report).
   */
  async function throughOutage(kiln: TestKiln, body: Record<string, unknown>, marker: string): Promise<{ build: BuildView; log: string; sawWaiting: number }> {
    const res = await postBuild(kiln, body);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = res.body.id as string;
    await logUntil(kiln, id, (t) => t.includes(marker)).reached;
    await registry.stop('SIGKILL');
    const stoppedAt = Date.now();
    let firstFailure: number;
    try {
      await logUntil(kiln, id, (t) => / failed at attempt 1: /.test(t)).reached;
      firstFailure = Date.now();
      const until = Math.max(stoppedAt + OUTAGE_MS, firstFailure + MIN_WAIT_MS);
      await sleep(until - Date.now()); // the outage itself, not a wait for a condition
    } finally {
      await registry.start();
    }
    const sawWaiting = (Date.now() - firstFailure) / 1000;
    const build = await waitForBuild(kiln, id, 300_000);
    const log = await (await call(kiln, `/v1/builds/${id}/logs`)).text();
    process.stderr.write(`registry down ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s before the build ended; ${JSON.stringify(outageFigures(log))}\n`);
    return { build, log, sawWaiting };
  }

  async function assertRidden(kiln: TestKiln, { build, log, sawWaiting }: { build: BuildView; log: string; sawWaiting: number }, word: string, what: RegExp) {
    assert.equal(build.status, 'succeeded', `${build.error}\n${log}`);
    // Ridden out inside the attempt: the queue's own retries (a new attempt, from the start) were not needed.
    assert.equal(build.attempts, 1, log);
    const figures = outageFigures(log);
    assert.ok(figures.failures >= 2, `several failed calls in the log:\n${log}`);
    assert.match(log, /failed at attempt 1: registry 127\.0\.0\.1:\d+ .*; retrying in [\d.]+ s$|failed at attempt 1: push to registry 127\.0\.0\.1:\d+ failed.*; retrying in [\d.]+ s$/m);
    const back = figures.recovered.find((r) => what.test(r.what));
    assert.ok(back, `the log says which call worked again, after how long:\n${log}`);
    // The log rounds to 0.1 s; the test saw the build's first failure no earlier than it happened.
    assert.ok(back.since >= Math.floor(sawWaiting * 10) / 10 - 0.1, `the test saw the build wait ${sawWaiting.toFixed(1)} s; the log says ${back.since} s since the first failure:\n${log}`);
    const { registry: host, repository, tag } = repoAndTag(build.imageRef);
    assert.equal(await manifestDigest(host, repository, tag), build.digest);
    const ran = await runImage(kiln.infra.docker, `${build.imageRef}@${build.digest}`);
    assert.equal(ran.output.trim(), `hello-${word}`);
    await kiln.infra.docker.getImage(`${build.imageRef}@${build.digest}`).remove({ force: true }).catch(() => undefined);
  }

  it('SIGKILLed for 20 s while a composed build writes its binary layer: the build succeeds, its log shows the attempts and the wait', async () => {
    const kiln = await startTestKiln({ builder: true, env: { ...registry.kilnEnv(), KILN_COMPOSITION: 'true' } });
    try {
      const word = randomBytes(4).toString('hex');
      const up = await upload(kiln, paddedScript(word, 150), 'hello');
      assert.equal(up.status, 201, JSON.stringify(up.body));
      const outcome = await throughOutage(
        kiln,
        { uploadId: up.body.id, binaryPath: '/usr/local/bin/hello', entrypoint: ['/usr/local/bin/hello'], image: `outage-composed:${word}` },
        'kiln: composing',
      );
      await assertRidden(kiln, outcome, word, /binary layer|manifest|config|mounting/);
      const { build, log } = outcome;
      assert.ok(build.steps.some((s) => s.kind === 'assemble'), `assembled in the registry, not installed:\n${log}`);
    } finally {
      await kiln.close();
    }
  });

  // The engine rides out an outage in the middle of a layer's upload by itself (it retries each layer after 5, 10 and
  // 15 s); what it does not retry is a push that begins while the registry is away (its first request is refused) or a
  // manifest put that fails. So the registry dies while the engine still builds, and the push starts into the outage.
  it('SIGKILLed for 20 s as an installed build reaches its push: the build succeeds, its log shows the attempts and the wait', async () => {
    const nonce = randomBytes(4).toString('hex');
    const catalog = await slowCatalog(`${registry.dir}/${nonce}`, { seconds: 3, nonce });
    const kiln = await startTestKiln({ builder: true, env: { KILN_CATALOG_DIR: catalog, ...registry.kilnEnv() } });
    try {
      const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho hello-${nonce}\n`), 'hello');
      assert.equal(up.status, 201, JSON.stringify(up.body));
      const outcome = await throughOutage(
        kiln,
        { uploadId: up.body.id, binaryPath: '/usr/local/bin/hello', entrypoint: ['/usr/local/bin/hello'], image: `outage-installed:${nonce}`, components: ['slow'] },
        `slow-start-${nonce}`,
      );
      await assertRidden(kiln, outcome, nonce, /^pushing /);
      const { log } = outcome;
      const pushedAfter = log.indexOf('kiln: pushing ');
      assert.ok(pushedAfter > 0 && log.indexOf('failed at attempt 1') > pushedAfter, `the push met the outage:\n${log}`);
    } finally {
      await removeSlowLayers(kiln.infra.docker, nonce);
      await kiln.close();
    }
  });
});

// Multi-host: a builder whose engine lacks the root pulls it, by digest, from what a builder on another engine
// published. The other "host" is a second Docker engine started here, with its own data root and socket.
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { CURRENT_ROOT_TAG, rootRepository } from '../builder/docker-engine.ts';
import { rootImageName } from '../core/build-planner.ts';
import { call, postBuild, upload, waitForBuild } from './helpers/api-client.ts';
import { runImage } from './helpers/docker-run.ts';
import { manifestDigest } from './helpers/registry-client.ts';
import { spawnBuilder, stopChild } from './helpers/builder-process.ts';
import { startSecondEngine, type SecondEngine } from './helpers/second-engine.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const ROOT = 'debian-bookworm';

const imageId = (docker: Docker, ref: string) => docker.getImage(ref).inspect().then((i) => i.Id, () => undefined);

describe('multi-host: a builder without the root pulls it from the registry', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  let engine2: SecondEngine;
  let builderA: ChildProcess | undefined;
  let builderB: ChildProcess | undefined;
  const nonce = randomBytes(4).toString('hex');

  before(async () => {
    // Separate builder processes share the database: PostgreSQL, not PGlite.
    [kiln, engine2] = await Promise.all([startTestKiln({ db: 'postgres', builder: false }), startSecondEngine()]);
  });
  after(async () => {
    await Promise.all([stopChild(builderA), stopChild(builderB)]);
    await Promise.allSettled([kiln?.close(), engine2?.stop()]);
  });

  async function submitHello(word: string, image: string): Promise<string> {
    const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho hello-${word}\n`), 'hello');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const res = await postBuild(kiln, { uploadId: up.body.id, binaryPath: '/usr/local/bin/hello', entrypoint: ['/usr/local/bin/hello'], image });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id as string;
  }

  it('fails clearly while no builder has published the root, then builds on the second engine once one has', async () => {
    const rootImage = rootImageName(kiln.config.KILN_ROOT_IMAGE_PREFIX, ROOT);
    const mainRootId = await imageId(kiln.infra.docker, rootImage);
    assert.ok(mainRootId, `the main engine holds ${rootImage} (npm test / npm start make it)`);
    assert.equal(await imageId(engine2.docker, rootImage), undefined, 'the second engine starts empty');
    const rootRepo = rootRepository(kiln.config.REGISTRY_PREFIX, ROOT);
    assert.ok(rootRepo.startsWith(`${kiln.config.REGISTRY_PREFIX}/`), 'published roots live under the prefix (and go with it)');

    // Builder B, on the second engine: its engine has no root and nobody has published one yet.
    builderB = spawnBuilder(kiln, { DOCKER_HOST: engine2.host });
    const early = await waitForBuild(kiln, await submitHello(`early-${nonce}`, 'multi/early:1'), 60_000);
    assert.equal(early.status, 'failed');
    assert.match(early.error ?? '', new RegExp(`root "${ROOT}".*not on this engine.*registry ${kiln.config.REGISTRY_HOST.replace(/\./g, '\\.')}`));
    assert.equal(early.attempts, 1, 'not retried: a retry cannot publish the root');

    // Builder A, on the main engine, publishes the root when it starts; then it goes away.
    builderA = spawnBuilder(kiln, {});
    const deadline = Date.now() + 60_000;
    let published: string | undefined;
    while (!(published = await manifestDigest(kiln.config.REGISTRY_HOST, rootRepo, CURRENT_ROOT_TAG))) {
      assert.ok(Date.now() < deadline, 'builder A published the root within 60 s');
      assert.equal(builderA.exitCode, null, 'builder A is running');
      await sleep(250);
    }
    const idTag = mainRootId.replace('sha256:', '').slice(0, 12);
    assert.equal(await manifestDigest(kiln.config.REGISTRY_HOST, rootRepo, idTag), published, '`current` names the image-id tag');
    await stopChild(builderA);
    assert.ok(
      // Only this kiln's names: other kilns on the same engine (other tests) publish roots of their own meanwhile.
      !(await kiln.infra.docker.listImages()).some((i) => (i.RepoTags ?? []).some((t) => t.includes(`/${rootRepo}:`))),
      'the publisher left no registry names on its engine',
    );

    // Only B is left: the build runs there, pulling the root by digest.
    const id = await submitHello(nonce, 'multi/hello:1');
    const build = await waitForBuild(kiln, id, 90_000);
    assert.equal(build.status, 'succeeded', build.error ?? '');
    const log = await (await call(kiln, `/v1/builds/${id}/logs`)).text();
    assert.match(log, new RegExp(`attempt 1 on builder [^\\n]*:${builderB.pid}\\n`));
    assert.equal(await imageId(engine2.docker, rootImage), mainRootId, 'the second engine holds the very same root image');

    const run = await runImage(kiln.infra.docker, build.imageRef);
    assert.equal(run.code, 0, run.output);
    assert.equal(run.output.trim(), `hello-${nonce}`);
  });
});

describe('multi-host composition: a builder whose engine holds nothing composes from layers in the registry', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  let engine2: SecondEngine;
  let builderA: ChildProcess | undefined;
  let builderB: ChildProcess | undefined;
  const nonce = randomBytes(4).toString('hex');
  const composing = { KILN_COMPOSITION: 'true' };

  before(async () => {
    [kiln, engine2] = await Promise.all([startTestKiln({ db: 'postgres', builder: false, env: composing }), startSecondEngine()]);
  });
  after(async () => {
    await Promise.all([stopChild(builderA), stopChild(builderB)]);
    await Promise.allSettled([kiln?.close(), engine2?.stop()]);
  });

  const submit = async (image: string) => {
    const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho "composed-${nonce} $(java -version 2>&1 | head -n 1 | cut -d'"' -f2) $(openssl version | cut -d' ' -f2)"\n`), 'hello');
    const res = await postBuild(kiln, { components: ['jdk@17', 'openssl@3'], uploadId: up.body.id, binaryPath: '/usr/local/bin/hello', entrypoint: ['/usr/local/bin/hello'], image });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id as string;
  };

  it('after a builder on the main engine built the layers and verified them, the second engine builds nothing and pulls nothing', async () => {
    // Builder A (main engine): the first build installs and queues the layers; A builds and verifies them.
    builderA = spawnBuilder(kiln, composing, { logs: true });
    const first = await waitForBuild(kiln, await submit('multi/composed:1'), 300_000);
    assert.equal(first.status, 'succeeded', first.error ?? '');
    const deadline = Date.now() + 300_000;
    for (;;) {
      const list = ((await (await call(kiln, '/v1/compositions')).json()) as { compositions: { components: string[]; status: string }[] }).compositions;
      const c = list.find((x) => x.components.join('+') === 'jdk@17+openssl@3');
      if (c?.status === 'verified') break;
      assert.ok(!c || c.status === 'verifying', JSON.stringify(c));
      assert.ok(Date.now() < deadline, 'the combination was verified in time');
      await sleep(500);
    }
    await stopChild(builderA);

    // Builder B alone, on an engine that holds no image at all.
    assert.deepEqual(await engine2.docker.listImages({ all: true }), []);
    builderB = spawnBuilder(kiln, { ...composing, DOCKER_HOST: engine2.host }, { logs: true });
    const id = await submit('multi/composed:2');
    const build = (await waitForBuild(kiln, id, 120_000)) as Awaited<ReturnType<typeof waitForBuild>> & { plan: { base: { kind: string } } };
    assert.equal(build.status, 'succeeded', build.error ?? '');
    assert.equal(build.plan.base.kind, 'composed');
    assert.deepEqual(build.steps.map((x) => `${x.component}:${x.kind}`), ['jdk@17:layer', 'openssl@3:layer', 'binary:assemble'], 'no install step');
    const log = await (await call(kiln, `/v1/builds/${id}/logs`)).text();
    assert.match(log, new RegExp(`attempt 1 on builder [^\\n]*:${builderB.pid}\\n`));
    assert.doesNotMatch(log, /^Step \d+\/\d+ :/m, 'no docker build ran');
    assert.deepEqual(await engine2.docker.listImages({ all: true }), [], 'the second engine pulled and built nothing');

    const run = await runImage(kiln.infra.docker, build.imageRef);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output.trim(), new RegExp(`^composed-${nonce} 17\\.\\S+ 3\\.`));
  });
});


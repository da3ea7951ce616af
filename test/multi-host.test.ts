// Multi-host: a builder whose engine lacks the root pulls it, by digest, from what a builder on another engine
// published. The other "host" is a second Docker engine started here, with its own data root and socket.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { CURRENT_ROOT_TAG, rootRepository } from '../builder/docker-engine.ts';
import { rootImageName } from '../core/build-planner.ts';
import { dockerClient } from '../core/infrastructure.ts';
import { call, postBuild, upload, waitForBuild } from './helpers/api-client.ts';
import { runImage } from './helpers/docker-run.ts';
import { manifestDigest } from './helpers/registry-client.ts';
import { spawnBuilder, stopChild } from './helpers/builder-process.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const run = promisify(execFile);
const ROOT = 'debian-bookworm';

/** A second engine, as on another host: nothing shared with the main one but the kernel and the registry. */
interface SecondEngine {
  docker: Docker;
  host: string;
  stop(): Promise<void>;
}

const ip = (...args: string[]) => run('ip', args);

/**
 * The second engine's own bridge. Not `--bridge none`: a daemon started with it deletes the host's docker0 at start
 * (moby's removeDefaultBridgeInterface), which cuts the main engine's containers off the network.
 */
async function createBridge(): Promise<string> {
  const name = `kilnbr${randomBytes(4).toString('hex')}`;
  const routes = (await ip('-4', 'route')).stdout;
  const third = [...Array(256).keys()].map((i) => (i + randomBytes(1)[0]!) % 256).find((x) => !routes.includes(`10.213.${x}.`));
  assert.ok(third !== undefined, 'a free /24 in 10.213.0.0/16');
  await ip('link', 'add', 'name', name, 'type', 'bridge');
  await ip('addr', 'add', `10.213.${third}.1/24`, 'dev', name);
  await ip('link', 'set', name, 'up');
  return name;
}

async function startSecondEngine(): Promise<SecondEngine> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kiln-engine2-'));
  const bridge = await createBridge();
  const socket = path.join(dir, 'docker.sock');
  const logFd = openSync(path.join(dir, 'dockerd.log'), 'a');
  const child = spawn(
    'dockerd',
    [
      '--data-root', path.join(dir, 'data'),
      '--exec-root', path.join(dir, 'exec'),
      '--pidfile', path.join(dir, 'docker.pid'),
      '--host', `unix://${socket}`,
      '--bridge', bridge,
      '--iptables=false',
      '--ip-masq=false',
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const docker = dockerClient({ DOCKER_HOST: `unix://${socket}` });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // dockerd stops its own containerd and unmounts its layers
      await Promise.race([exited, sleep(30_000, undefined, { ref: false }).then(() => child.kill('SIGKILL'))]);
      await exited;
    }
    // Whatever a killed daemon left mounted under its directories, deepest first, before removing them.
    const mounts = (await readFile('/proc/mounts', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await new Promise((resolve) => spawn('umount', ['-l', m]).once('exit', resolve));
    await rm(dir, { recursive: true, force: true });
    await ip('link', 'del', bridge).catch(() => undefined);
  };

  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`dockerd exited with ${child.exitCode}: see ${dir}/dockerd.log`);
      if (await docker.ping().then(() => true, () => false)) break;
      if (Date.now() > deadline) throw new Error(`dockerd did not answer on ${socket} within 30 s`);
      await sleep(200);
    }
  } catch (err) {
    const log = await readFile(path.join(dir, 'dockerd.log'), 'utf8').catch(() => '');
    await stop();
    throw new Error(`${(err as Error).message}\n${log.slice(-2000)}`);
  }
  return { docker, host: `unix://${socket}`, stop };
}

const imageId = (docker: Docker, ref: string) => docker.getImage(ref).inspect().then((i) => i.Id, () => undefined);

describe('multi-host: a builder without the root pulls it from the registry', { timeout: 180_000 }, () => {
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

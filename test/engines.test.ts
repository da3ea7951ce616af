// kiln on the engines its users run: Debian 12's Docker 20.10 (the suite's main engine) and Debian 13's Docker 26.1,
// with the overlay2 store and with the containerd image store (test/helpers/second-engine.ts). On each engine an image
// built there is saved and read by its manifest, and its top layer comes out normalized and proven. On each 26.1
// store a builder on that engine alone (as on a user's host) installs a first build, builds the component layers,
// verifies the combination and composes the next build; both pushed images run. The combination is openssl@3 (Debian
// packages: dpkg's status merged across layers) with a small component of this run (an install script), not a JDK:
// what differs between engines is how layers are saved and read, not what is in them, and on a cold 26.1 engine each
// JDK install (three per store) cost the suite a minute of CPU on two cores. KILN_TEST_ENGINES narrows the 26.1
// stores (`docker26,docker26-containerd`, the default; `none` skips them).
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import { CURRENT_ROOT_TAG, rootRepository } from '../builder/docker-engine.ts';
import { extractTopLayer, recordImage } from '../builder/layer-extract.ts';
import { readSavedImage } from '../builder/saved-image.ts';
import { rootImageName } from '../core/build-planner.ts';
import { FsView } from '../core/composition/layer-index.ts';
import { createRegistryBlobs } from '../core/registry-blobs.ts';
import { call, postBuild, upload, waitFor, waitForBuild } from './helpers/api-client.ts';
import { spawnBuilder, stopChild } from './helpers/builder-process.ts';
import { runImage } from './helpers/docker-run.ts';
import { deleteRepositories, plainClient } from './helpers/registry-client.ts';
import { engineKinds, startSecondEngine, type EngineKind, type SecondEngine } from './helpers/second-engine.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const ROOT = 'debian-bookworm';
const REGISTRY = process.env.REGISTRY_HOST ?? '127.0.0.1:5000';
const rootImage = rootImageName(process.env.KILN_ROOT_IMAGE_PREFIX ?? 'kiln-root', ROOT);
const wanted = (process.env.KILN_TEST_ENGINES ?? 'docker26,docker26-containerd').split(',').filter((k): k is EngineKind => (engineKinds as readonly string[]).includes(k) && k !== 'debian12');

function followStream(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, events: { error?: string }[]) => {
      const failed = events?.find((e) => e.error);
      if (err || failed) reject(err ?? new Error(failed!.error));
      else resolve();
    }),
  );
}

/** The root image, as a user's stack makes it on their engine (here: the main engine's, loaded as `docker import` would). */
async function loadRoot(from: Docker, to: Docker): Promise<void> {
  const saved = (await from.getImage(rootImage).get()) as unknown as NodeJS.ReadableStream;
  await followStream(to, await to.loadImage(saved as never));
}

/** The shipped catalog plus `engine-probe`, a component of this run (its version holds the nonce): an install script. */
async function probeCatalog(parent: string, nonce: string): Promise<string> {
  const catalog = path.join(parent, 'catalog');
  await cp(path.resolve(import.meta.dirname, '../base-images'), catalog, { recursive: true });
  const version = `1-${nonce}`;
  await mkdir(path.join(catalog, 'components', 'engine-probe'));
  await writeFile(path.join(catalog, 'components', 'engine-probe', 'component.yaml'), `name: engine-probe\ndescription: test component\nrank: 90\ndefault: "${version}"\n`);
  await writeFile(
    path.join(catalog, 'components', 'engine-probe', `${version}.yaml`),
    `name: engine-probe\nversion: "${version}"\nroots: [debian-bookworm]\ninstall:\n  script: ${JSON.stringify(`mkdir -p /opt/engine-probe && echo probe-${nonce} > /opt/engine-probe/id\n`)}\nsmoke: ${JSON.stringify(`grep -qx probe-${nonce} /opt/engine-probe/id`)}\ncostEstimateSeconds: 60\n`,
  );
  return catalog;
}

/** A small image built FROM the root: a directory it creates, a file it deletes from the root. */
async function buildProbe(docker: Docker, tag: string): Promise<void> {
  const pack = tarPack();
  pack.entry({ name: 'Dockerfile' }, `FROM ${rootImage}\nRUN mkdir -p /opt/kiln-probe/sub && echo probe > /opt/kiln-probe/sub/file && rm /etc/issue.net\nLABEL dev.kiln.test=engines\n`);
  pack.finalize();
  await followStream(docker, await docker.buildImage(pack as never, { t: tag, rm: true, forcerm: true }));
}

/** The entries of a gzipped layer blob. */
async function entriesOf(gz: Buffer): Promise<string[]> {
  const names: string[] = [];
  const x = tarExtract();
  const done = new Promise<void>((resolve, reject) => {
    x.on('entry', (h, s, next) => {
      names.push(h.name);
      s.on('end', next);
      s.resume();
    });
    x.on('finish', resolve);
    x.on('error', reject);
  });
  Readable.from([gunzipSync(gz)]).pipe(x);
  await done;
  return names;
}

/** docker save of an image built on `docker`, read by its manifest; its top layer taken out into the registry. */
async function savedImageRoundTrip(docker: Docker, label: string, wantFormat: 'docker-archive' | 'oci-layout') {
  const tag = `kiln-engines-probe:${randomBytes(4).toString('hex')}`;
  const repository = `kiln-test/engines-${randomBytes(4).toString('hex')}/layers`;
  const registry = plainClient(REGISTRY);
  const blobs = createRegistryBlobs(registry.transport);
  let written: string | undefined;
  try {
    await buildProbe(docker, tag);
    const info = await docker.getImage(tag).inspect();
    const saved = (await docker.getImage(tag).get()) as unknown as NodeJS.ReadableStream & { destroy(): void };
    const image = await readSavedImage(saved, { onLayer: async () => undefined });
    assert.equal(image.format, wantFormat, label);
    assert.deepEqual(image.layers.map((l) => l.diffId), info.RootFS.Layers, `${label}: the manifest's layers are the image's, in order`);
    assert.ok(image.layers.every((l) => l.read), `${label}: every layer read and proven by its hash`);

    const root = await recordImage(docker, rootImage);
    assert.deepEqual(root.diffIds, info.RootFS.Layers!.slice(0, -1), `${label}: the root's own layers`);
    assert.ok(root.record.index.entries.some((e) => e.path === 'etc/issue.net'), `${label}: the root's record holds its files`);
    const layer = await extractTopLayer({ docker, blobs }, { image: tag, base: { diffIds: root.diffIds, blobs: [] }, baseView: new FsView().apply(root.record.index), repository, signal: new AbortController().signal });
    written = layer.digest;
    const gz = await blobs.get(repository, layer.digest);
    assert.equal(`sha256:${createHash('sha256').update(gunzipSync(gz)).digest('hex')}`, layer.diffId, `${label}: the blob's content is the recorded diffID`);
    const names = await entriesOf(gz);
    assert.ok(names.includes('opt/kiln-probe/sub/file'), `${label}: ${names.join(' ')}`);
    assert.ok(!names.some((n) => n.endsWith('.wh..wh..opq') && n.startsWith('opt/kiln-probe')), `${label}: no opaque marker on a directory the layer created`);
    assert.ok(names.includes('etc/.wh.issue.net'), `${label}: the deletion of a root file is kept`);
    assert.deepEqual(layer.record.index.whiteouts, ['etc/issue.net']);
  } finally {
    await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    // No manifest names the blob: delete it (the registry's garbage collection would, at its next start).
    if (written) await registry.transport.request(`/${repository}/blobs/${written}`, { method: 'DELETE', scopes: [{ repository, actions: ['pull', 'push', 'delete'] }] });
  }
}

describe("saved images from Debian 12's engine (the main one): the legacy docker-archive", { timeout: 600_000 }, () => {
  it('is read by its manifest, and its top layer comes out normalized and proven', async () => {
    const { dockerClient } = await import('../core/infrastructure.ts');
    await savedImageRoundTrip(dockerClient({ DOCKER_HOST: process.env.DOCKER_HOST }), 'debian12', 'docker-archive');
  });
});

for (const kind of wanted) {
  describe(`kiln on Docker 26.1 (${kind === 'docker26' ? 'overlay2 store' : 'containerd image store'})`, { timeout: 900_000 }, () => {
    let engine: SecondEngine;
    let kiln: TestKiln;
    let builder: ChildProcess | undefined;
    const nonce = randomBytes(4).toString('hex');

    let dir: string;
    const probe = `engine-probe@1-${nonce}`;

    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'kiln-engines-'));
      const catalog = await probeCatalog(dir, nonce);
      [engine, kiln] = await Promise.all([startSecondEngine({ kind }), startTestKiln({ db: 'postgres', builder: false, env: { KILN_COMPOSITION: 'true', KILN_CATALOG_DIR: catalog } })]);
      await loadRoot(kiln.infra.docker, engine.docker);
    });
    after(async () => {
      await stopChild(builder);
      await Promise.allSettled([kiln?.close(), engine?.stop()]);
      await rm(dir, { recursive: true, force: true });
    });

    it(`docker save is read by its manifest, and the top layer comes out normalized and proven`, async () => {
      assert.match(engine.description, kind === 'docker26' ? /^26\.1\.\S+, overlay2 store$/ : /^26\.1\.\S+, containerd image store$/);
      await savedImageRoundTrip(engine.docker, kind, 'oci-layout');
    });

    it('a builder on this engine alone: a first build installs, its layers are built and verified there, the next build is composed; both images run', async () => {
      builder = spawnBuilder(kiln, { DOCKER_HOST: engine.host, KILN_COMPOSITION: 'true' }, { logs: true });
      // The builder publishes the root its engine holds, as on a user's host with one engine.
      await waitFor('the root published', () => kiln.infra.registry.manifestDigest(rootRepository(kiln.config.REGISTRY_PREFIX, ROOT), CURRENT_ROOT_TAG), 120_000);
      const submit = async (n: number) => {
        const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho "engine-${nonce}-${n} $(openssl version | cut -d' ' -f2) $(cat /opt/engine-probe/id)"\n`), 'hello');
        const res = await postBuild(kiln, { components: ['openssl@3', probe], uploadId: up.body.id, binaryPath: '/usr/local/bin/hello', entrypoint: ['/usr/local/bin/hello'], image: `engines/${kind}:${n}` });
        assert.equal(res.status, 202, JSON.stringify(res.body));
        return (await waitForBuild(kiln, res.body.id, 600_000)) as Awaited<ReturnType<typeof waitForBuild>> & { plan: { base: { kind: string } } };
      };
      const expectRuns = async (ref: string, n: number) => {
        for (const docker of [engine.docker, kiln.infra.docker]) {
          const run = await runImage(docker, ref);
          assert.equal(run.code, 0, run.output);
          assert.match(run.output.trim(), new RegExp(`^engine-${nonce}-${n} 3\\.\\S+ probe-${nonce}$`));
        }
      };

      const first = await submit(1);
      assert.equal(first.status, 'succeeded', first.error ?? '');
      assert.notEqual(first.plan.base.kind, 'composed', 'no layers yet: the first build installs');
      await expectRuns(first.imageRef, 1);

      const verdict = await waitFor(
        'the combination verified',
        async () => {
          const layers = ((await (await call(kiln, '/v1/layers')).json()) as { layers: { component: string; status: string; error: string | null }[] }).layers;
          const bad = layers.find((l) => l.status === 'failed');
          assert.ok(!bad, `layer ${bad?.component} failed: ${bad?.error}`);
          const list = ((await (await call(kiln, '/v1/compositions')).json()) as { compositions: { components: string[]; status: string; error: string | null; conflicts: string[] | null }[] }).compositions;
          const c = list.find((x) => x.components.join('+') === `openssl@3+${probe}`);
          assert.ok(!c || c.status === 'verifying' || c.status === 'verified', JSON.stringify(c));
          return c?.status === 'verified' ? c : undefined;
        },
        600_000,
        1000,
      );
      assert.equal(verdict.status, 'verified');

      const second = await submit(2);
      assert.equal(second.status, 'succeeded', second.error ?? '');
      assert.equal(second.plan.base.kind, 'composed', JSON.stringify(second.plan.base));
      assert.deepEqual(second.steps.map((s) => `${s.component}:${s.kind}`), ['openssl@3:layer', `${probe}:layer`, 'binary:assemble'], 'nothing installed');
      const log = await (await call(kiln, `/v1/builds/${second.id}/logs`)).text();
      assert.match(log, new RegExp(`attempt 1 on builder [^\\n]*:${builder.pid}\\n`));
      await expectRuns(second.imageRef, 2);
      // The engine's images of this test go with the engine; the main engine's pulls go with the kiln's prefix.
      await deleteRepositories(kiln.infra.docker, kiln.infra.registry, `${kiln.config.REGISTRY_PREFIX}/`);
    });
  });
}

// A build stopped while it runs — canceled, or past its timeout — leaves nothing of its own on the engine: no image or
// container with its build-id label, and no layer holding its upload (looked up by content and by digest on the
// engine's disk, since a layer can outlive every image the API lists). The upload is a small gzip that unpacks to a
// large file, so the layer that holds it is big and really exists before the stop. A push is stopped while the engine
// waits on a registry that does not answer, the hardest case: the engine may keep the layer until the registry answers
// or fails.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { call, getBuild, logUntil, postBuild, uploadStream, waitForBuild, type Target } from './helpers/api-client.ts';
import { copyingInto, engineDisk, imagesWith, labelled, layersHolding, layerStored } from './helpers/engine-layers.ts';
import { startHangingRegistry, type HangingRegistry } from './helpers/hanging-registry.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';
import { waitUntil } from './helpers/wait.ts';
import { zeroFileArchive } from './hostile/tar-fixtures.ts';

const MiB = 1024 * 1024;
type Disk = NonNullable<Awaited<ReturnType<typeof engineDisk>>>;

/**
 * A build of an archive holding one file of `mib` MiB of zeros, unpacked into a directory no other build uses, to a
 * repository of its own (`stopped/<repo>`).
 */
async function bigBuild(kiln: Target, mib: number, extra: Record<string, unknown> = {}) {
  const nonce = randomBytes(4).toString('hex');
  const repo = `app-${nonce}`;
  const dir = `/opt/stopped-${nonce}`;
  const up = await uploadStream(kiln, zeroFileArchive(`big-${nonce}.bin`, mib * MiB), '?archive=tar');
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const res = await postBuild(kiln, { uploadId: up.body.id, binaryPath: dir, entrypoint: ['/bin/true'], image: `stopped/${repo}:1`, ...extra });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  made.push({ id: res.body.id as string, dir });
  return { id: res.body.id as string, dir, file: `${dir}/big-${nonce}.bin`, repo };
}

/** What a failing run of these tests would leave behind (the build ids and target directories it made). */
const made: { id: string; dir: string }[] = [];

/** Removes whatever the builds of this file left, if anything (nothing, when kiln behaves): newest first. */
async function removeLeftovers(docker: TestKiln['infra']['docker']): Promise<void> {
  for (const b of made) {
    const ids = [...(await labelled(docker, b.id)).images, ...(await imagesWith(docker, { marker: b.dir }))];
    const images = await Promise.all([...new Set(ids)].map((id) => docker.getImage(id).inspect().catch(() => undefined)));
    for (const img of images.filter((i) => i !== undefined).sort((a, b) => Date.parse(b.Created) - Date.parse(a.Created))) {
      await docker.getImage(img.Id).remove({ force: true }).catch(() => undefined);
    }
  }
}

const cancel = async (kiln: Target, id: string) => assert.equal((await call(kiln, `/v1/builds/${id}/cancel`, { method: 'POST' })).status, 202);

/**
 * Nothing of the build anywhere: by label, by the step that copied its upload, by content on disk. Kiln removes its
 * images before it records the end; a layer the engine still held for a stopped push goes once the engine lets go.
 */
async function assertNothingOfTheBuild(docker: TestKiln['infra']['docker'], disk: Disk, b: { id: string; dir: string; file: string }) {
  assert.deepEqual(await labelled(docker, b.id), { images: [], containers: [] });
  assert.deepEqual(await imagesWith(docker, { marker: b.dir }), [], 'no image made by the step that copied the upload');
  await waitUntil(async () => (await layersHolding(disk, b.file)).length === 0, 'a layer on the engine still holds the upload', 60_000);
}

describe('a build stopped while it runs leaves no image, layer or container of its own', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  let disk: Disk | undefined;
  before(async () => {
    kiln = await startTestKiln({ builder: true, env: { KILN_BUILD_ATTEMPTS: '1' } });
    disk = await engineDisk(kiln.infra.docker);
    assert.ok(disk, "the engine's overlay2 storage is readable here (the test runs on the engine's host, as root)");
  });
  after(async () => {
    if (kiln) await removeLeftovers(kiln.infra.docker);
    await kiln?.close();
  });

  it('canceled while the engine copies its upload', async () => {
    const b = await bigBuild(kiln, 512);
    // Cancel while the engine is writing the upload into a layer: a step the engine finishes even when the build
    // request is gone.
    await logUntil(kiln, b.id, (t) => t.includes('COPY ["archive"')).reached;
    await waitUntil(() => copyingInto(disk!, b.dir), 'the engine started copying the upload', 120_000, 50);
    await cancel(kiln, b.id);
    const build = await waitForBuild(kiln, b.id, 180_000);
    assert.equal(build.status, 'canceled', build.error ?? '');
    // Whatever the engine was still doing for this build has ended once nothing is mounted for it.
    await waitUntil(async () => !(await copyingInto(disk!, b.dir)), 'the engine stopped copying', 180_000);
    await assertNothingOfTheBuild(kiln.infra.docker, disk!, b);
  });
});

describe('a build stopped while it pushes leaves no image, layer or container of its own', { timeout: 1_500_000 }, () => {
  let registry: HangingRegistry;
  let kiln: TestKiln;
  let disk: Disk | undefined;
  before(async () => {
    // Pushes of these builds' repository hang until kiln stops them: the image and its upload layer exist when the
    // stop comes. Everything else (roots published, kiln's own registry calls) reaches the local registry.
    registry = await startHangingRegistry(process.env.REGISTRY_HOST ?? '127.0.0.1:5000', 'stopped');
    kiln = await startTestKiln({
      builder: true,
      env: { KILN_BUILD_ATTEMPTS: '1', REGISTRY_HOST: registry.host, REGISTRY_PLAIN_HTTP_HOSTS: registry.host },
    });
    disk = await engineDisk(kiln.infra.docker);
    assert.ok(disk, "the engine's overlay2 storage is readable here (the test runs on the engine's host, as root)");
  });
  after(async () => {
    if (kiln) await removeLeftovers(kiln.infra.docker);
    await kiln?.close();
    await registry?.close();
  });

  /**
   * Once the engine's push waits on the registry: the digest of the layer holding the upload (the one the image adds
   * on top of the root).
   */
  const uploadLayerWhilePushing = async (b: { id: string; file: string; repo: string }) => {
    await logUntil(kiln, b.id, (t) => t.includes('kiln: pushing')).reached;
    await waitUntil(() => registry.held.some((r) => r.includes(`/${b.repo}/`)), "the engine's push reached the registry", 120_000);
    const { imageRef } = await getBuild(kiln, b.id);
    const image = await kiln.infra.docker.getImage(imageRef).inspect();
    assert.equal(image.Config.Labels?.['dev.kiln.build-id'], b.id, 'the built image carries the build id');
    const layers = image.RootFS.Layers ?? [];
    const root = (await kiln.infra.docker.getImage(`${kiln.config.KILN_ROOT_IMAGE_PREFIX}:debian-bookworm`).inspect()).RootFS.Layers ?? [];
    const added = layers.filter((l) => !root.includes(l));
    assert.equal(added.length, 1, `one layer on top of the root: ${added.join(', ')}`);
    assert.deepEqual(await layersHolding(disk!, b.file), added, 'that layer holds the upload');
    return added[0]!;
  };

  /**
   * Nothing of the build, and the layer that held its upload gone from the engine's store, by its digest. Kiln's
   * images go before the build's end is recorded. The engine's own push can outlive the API call kiln stopped (a
   * transfer another push shares, still waiting on the registry) and keeps the layer while it waits: it lets go once
   * the registry answers or fails, so here the test's registry goes down for this repository, then the layer must go.
   */
  const assertNothingLeft = async (t: TestContext, b: { id: string; dir: string; file: string; repo: string }, uploadLayer: string) => {
    assert.deepEqual(await labelled(kiln.infra.docker, b.id), { images: [], containers: [] });
    assert.deepEqual(await imagesWith(kiln.infra.docker, { diffId: uploadLayer, marker: b.dir }), [], `no image holds ${uploadLayer}`);
    t.diagnostic(`when the build ended, the engine ${(await layerStored(disk!, uploadLayer)) ? 'still held' : 'no longer had'} ${uploadLayer} for its stopped push`);
    registry.fail(b.repo);
    await waitUntil(async () => !(await layerStored(disk!, uploadLayer)), `the engine's layer store still has ${uploadLayer}`, 60_000);
    await assertNothingOfTheBuild(kiln.infra.docker, disk!, b);
  };

  it('canceled', async (t) => {
    const b = await bigBuild(kiln, 64);
    const uploadLayer = await uploadLayerWhilePushing(b);
    await cancel(kiln, b.id);
    const build = await waitForBuild(kiln, b.id, 120_000);
    assert.equal(build.status, 'canceled', build.error ?? '');
    await assertNothingLeft(t, b, uploadLayer);
  });

  it('timed out', async (t) => {
    // The timeout has to fall while the push hangs, but how long the steps before the push take depends on the
    // engine's load. A build whose timeout came first is checked all the same (it too must leave nothing) and tried
    // again with twice the time, until one times out mid-push: no attempt's outcome rests on timing luck.
    for (let seconds = 45; ; seconds *= 2) {
      const b = await bigBuild(kiln, 64, { timeoutSeconds: seconds });
      const uploadLayer = await uploadLayerWhilePushing(b).catch(async (err: unknown) => {
        // With the image still there the failure is the test's finding; without it, the timeout came first.
        const { imageRef } = await getBuild(kiln, b.id);
        if (await kiln.infra.docker.getImage(imageRef).inspect().then(() => true, () => false)) throw err;
        return undefined;
      });
      const build = await waitForBuild(kiln, b.id, (seconds + 120) * 1000);
      assert.equal(build.status, 'failed');
      assert.match(build.error ?? '', new RegExp(`ran longer than its timeout of ${seconds} s`));
      if (uploadLayer) {
        await assertNothingLeft(t, b, uploadLayer);
        return;
      }
      registry.fail(b.repo);
      await assertNothingOfTheBuild(kiln.infra.docker, disk!, b);
      assert.ok(seconds < 360, `no build reached its push within ${seconds} s`);
    }
  });
});

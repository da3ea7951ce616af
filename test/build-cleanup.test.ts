// A build stopped while it runs — canceled, or past its timeout — leaves nothing of its own on the engine: no image or
// container with its build-id label, and no layer holding its upload (looked up by content and by digest on the
// engine's disk, since a layer can outlive every image the API lists). The upload is a small gzip that unpacks to a
// large file, so the layer that holds it is big and really exists before the stop.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { call, getBuild, logUntil, postBuild, uploadStream, waitForBuild, type Target } from './helpers/api-client.ts';
import { copyingInto, engineDisk, imagesWith, labelled, layersHolding, layerStored } from './helpers/engine-layers.ts';
import { startHangingRegistry, type HangingRegistry } from './helpers/hanging-registry.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';
import { waitUntil } from './helpers/wait.ts';
import { zeroFileArchive } from './hostile/tar-fixtures.ts';

const MiB = 1024 * 1024;

/** A build of an archive holding one file of `mib` MiB of zeros, unpacked into a directory no other build uses. */
async function bigBuild(kiln: Target, mib: number, extra: Record<string, unknown> = {}) {
  const nonce = randomBytes(4).toString('hex');
  const dir = `/opt/stopped-${nonce}`;
  const up = await uploadStream(kiln, zeroFileArchive(`big-${nonce}.bin`, mib * MiB), '?archive=tar');
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const res = await postBuild(kiln, { uploadId: up.body.id, binaryPath: dir, entrypoint: ['/bin/true'], image: `stopped/app:${nonce}`, ...extra });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  made.push({ id: res.body.id as string, dir });
  return { id: res.body.id as string, dir, file: `${dir}/big-${nonce}.bin` };
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

describe('a build stopped while it runs leaves no image, layer or container of its own', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  let disk: Awaited<ReturnType<typeof engineDisk>>;
  before(async () => {
    kiln = await startTestKiln({ builder: true, env: { KILN_BUILD_ATTEMPTS: '1' } });
    disk = await engineDisk(kiln.infra.docker);
    assert.ok(disk, "the engine's overlay2 storage is readable here (the test runs on the engine's host, as root)");
  });
  after(async () => {
    if (kiln) await removeLeftovers(kiln.infra.docker);
    await kiln?.close();
  });

  /** Nothing of the build anywhere: by label, by the step that copied its upload, by content on disk. */
  const assertNothingLeft = async (b: { id: string; dir: string; file: string }) => {
    assert.deepEqual(await labelled(kiln.infra.docker, b.id), { images: [], containers: [] });
    assert.deepEqual(await imagesWith(kiln.infra.docker, { marker: b.dir }), [], 'no image made by the step that copied the upload');
    assert.deepEqual(await layersHolding(disk!, b.file), [], 'no layer on the engine holds the upload');
  };

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
    await assertNothingLeft(b);
  });
});

describe('a build stopped while it pushes leaves no image, layer or container of its own', { timeout: 600_000 }, () => {
  let registry: HangingRegistry;
  let kiln: TestKiln;
  let disk: Awaited<ReturnType<typeof engineDisk>>;
  before(async () => {
    // Pushes to this registry hang until kiln stops them: the image and its upload layer exist when the stop comes.
    registry = await startHangingRegistry();
    kiln = await startTestKiln({ builder: true, env: { KILN_BUILD_ATTEMPTS: '1', REGISTRY_HOST: registry.host } });
    disk = await engineDisk(kiln.infra.docker);
    assert.ok(disk, "the engine's overlay2 storage is readable here (the test runs on the engine's host, as root)");
  });
  after(async () => {
    if (kiln) await removeLeftovers(kiln.infra.docker);
    await kiln?.close();
    await registry?.close();
  });

  /** While the push hangs: the digest of the layer holding the upload (the one the image adds on top of the root). */
  const uploadLayerWhilePushing = async (b: { id: string; file: string }) => {
    await logUntil(kiln, b.id, (t) => t.includes('kiln: pushing')).reached;
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

  const assertNothingLeft = async (b: { id: string; dir: string; file: string }, uploadLayer: string) => {
    assert.deepEqual(await labelled(kiln.infra.docker, b.id), { images: [], containers: [] });
    assert.deepEqual(await imagesWith(kiln.infra.docker, { diffId: uploadLayer, marker: b.dir }), [], `no image holds ${uploadLayer}`);
    assert.equal(await layerStored(disk!, uploadLayer), false, `the engine's layer store no longer has ${uploadLayer}`);
    assert.deepEqual(await layersHolding(disk!, b.file), []);
  };

  it('canceled', async () => {
    const b = await bigBuild(kiln, 256);
    const uploadLayer = await uploadLayerWhilePushing(b);
    await cancel(kiln, b.id);
    const build = await waitForBuild(kiln, b.id, 120_000);
    assert.equal(build.status, 'canceled', build.error ?? '');
    await assertNothingLeft(b, uploadLayer);
  });

  it('timed out', async () => {
    const b = await bigBuild(kiln, 256, { timeoutSeconds: 45 });
    const uploadLayer = await uploadLayerWhilePushing(b);
    const build = await waitForBuild(kiln, b.id, 120_000);
    assert.equal(build.status, 'failed');
    assert.match(build.error ?? '', /ran longer than its timeout of 45 s/);
    await assertNothingLeft(b, uploadLayer);
  });
});

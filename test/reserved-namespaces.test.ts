// kiln's own repositories (kiln-roots, kiln-templates, kiln-layers, kiln-compositions under REGISTRY_PREFIX) are no
// project's namespace: no project may take one of those names or a look-alike, and a project that already has one
// (made before the names were reserved) can neither push into kiln's repositories nor delete what sits there.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createProjectStore } from '../core/db/project-store.ts';
import { images } from '../core/db/schema/images.ts';
import { builds } from '../core/db/schema/builds.ts';
import { eq } from 'drizzle-orm';
import { KILN_REPOSITORIES } from '../core/kiln-repositories.ts';
import { createRegistryBlobs } from '../core/registry-blobs.ts';
import { call, postBuild, upload, type Target } from './helpers/api-client.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const post = (target: Target, path: string, body: unknown) => call(target, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const problems = async (res: Response) => ((await res.json()) as { problems?: { field: string; message: string }[] }).problems ?? [];

describe("kiln's own repositories are reserved", () => {
  let kiln: TestKiln;
  let admin: Target;

  before(async () => {
    kiln = await startTestKiln();
    admin = { url: kiln.url, token: kiln.adminToken };
  });
  after(() => kiln?.close());

  it('refuses every name kiln pushes to as a project, in any case and with any separators, naming it', async () => {
    for (const reserved of Object.values(KILN_REPOSITORIES).reverse()) {
      for (const name of [reserved, reserved.replace('-', '.'), reserved.replace('-', '_'), reserved.replace('-', '__'), reserved.replace('-', '')]) {
        const res = await post(admin, '/v1/projects', { name });
        assert.equal(res.status, 400, `${name}: ${await res.clone().text()}`);
        const [p] = await problems(res);
        assert.equal(p?.field, 'name');
        assert.match(p!.message, new RegExp(`reserved for kiln's own images: it reads as ${reserved}`), p!.message);
      }
    }
    assert.equal((await createProjectStore(kiln.infra.database.db).listProjects()).filter((p) => p.name.replace(/[._-]/g, '').startsWith('kiln')).length, 0);
  });

  it('a project named kiln-layers from before can neither build into the layers repository nor delete a layer there', async () => {
    const db = kiln.infra.database.db;
    // As an installation made before the names were reserved has it.
    await createProjectStore(db).insertProject({ name: 'kiln-layers', description: null });
    const created = await post(admin, '/v1/tokens', { name: 'old', project: 'kiln-layers' });
    assert.equal(created.status, 201, await created.clone().text());
    const squatter: Target = { url: kiln.url, token: ((await created.json()) as { token: string }).token };

    // A build would push REGISTRY_PREFIX/kiln-layers/debian-bookworm:<tag>: the repository every component layer is in.
    const uploadId = (await upload(squatter, new TextEncoder().encode('not a layer'))).body.id;
    const build = await post(squatter, '/v1/builds', { uploadId, binaryPath: '/opt/x', entrypoint: ['/opt/x'], image: 'debian-bookworm:jdk-17-overwritten' });
    assert.equal(build.status, 403, await build.clone().text());
    assert.deepEqual((await problems(build)).map((p) => p.field), ['project']);
    assert.equal((await db.select().from(builds).where(eq(builds.project, 'kiln-layers'))).length, 0, 'no build recorded');
    const hook = await post(squatter, '/v1/webhooks', { definition: { uploadId, binaryPath: '/opt/x', entrypoint: ['/opt/x'], repository: 'debian-bookworm' } });
    assert.equal(hook.status, 403, await hook.clone().text());

    // A layer sits in kiln's layers repository; the project's records (somehow) name it as its image.
    const repository = `${kiln.config.REGISTRY_PREFIX}/kiln-layers/debian-bookworm`;
    const blobs = createRegistryBlobs(kiln.infra.registry.transport);
    const config = await blobs.put(repository, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })));
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [] });
    const tag = `layer-${randomUUID().slice(0, 8)}`;
    const digest = await blobs.putManifest(repository, tag, manifest, 'application/vnd.oci.image.manifest.v1+json');
    const anyUpload = (await upload(kiln, new TextEncoder().encode('x'))).body.id;
    const own = await postBuild(kiln, { uploadId: anyUpload, binaryPath: '/opt/x', entrypoint: ['/opt/x'], image: 'team/app:1' });
    assert.equal(own.status, 202);
    const imageId = randomUUID();
    await db.insert(images).values({
      id: imageId,
      project: 'kiln-layers',
      buildId: own.body.id as string,
      repository: 'debian-bookworm',
      tag,
      digest,
      imageRef: `${kiln.config.REGISTRY_HOST}/${repository}:${tag}`,
      components: [],
      componentNames: [],
      uploadSha256: '0'.repeat(64),
      status: 'current',
      pushedAt: new Date(),
    });
    const deleted = await call(squatter, `/v1/images/${imageId}`, { method: 'DELETE' });
    assert.equal(deleted.status, 403, await deleted.clone().text());
    assert.deepEqual((await problems(deleted)).map((p) => p.field), ['project']);
    assert.equal(await kiln.infra.registry.manifestDigest(repository, tag), digest, 'the layer is still in the registry');
  });
});

// A composed build stopped while kiln writes its binary layer into the registry leaves no upload session there: kiln
// cancels the session it opened (DELETE on its location, as the distribution spec says). The registry is the test's
// own (Debian's docker-registry, storage on disk), so its sessions are read where it keeps them:
// <storage>/docker/registry/v2/repositories/<repository>/_uploads/<uuid>/. The binary is an archive of one large file
// of zeros: its upload to kiln is small, and the binary layer takes seconds to pack, gzip and stream.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, logUntil, postBuild, uploadStream, waitForBuild } from './helpers/api-client.ts';
import { startScratchRegistry, type ScratchRegistry } from './helpers/scratch-registry.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';
import { waitUntil } from './helpers/wait.ts';
import { zeroFileArchive } from './hostile/tar-fixtures.ts';

const GiB = 1024 * 1024 * 1024;

/**
 * Every upload session the registry holds for repositories under `prefix`, with the bytes it received. A session is
 * an `_uploads/<uuid>` directory with its `startedat` file: the registry resolves a session by that file (without it,
 * it answers BLOB_UPLOAD_UNKNOWN) and its purge of old uploads reads it. Debian's registry 2.8 leaves
 * `hashstates/` behind after every DELETE of an upload (it saves the hash state once more after removing the
 * session), whoever the client: that residue is no session.
 */
async function uploadSessions(registry: ScratchRegistry, prefix: string): Promise<{ path: string; bytes: number }[]> {
  const root = path.join(registry.dir, 'data/docker/registry/v2/repositories');
  const out: { path: string; bytes: number }[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const full = path.join(dir, e.name);
      if (e.name === '_uploads') {
        for (const session of await readdir(full).catch(() => [])) {
          const started = await stat(path.join(full, session, 'startedat')).catch(() => undefined);
          const data = await stat(path.join(full, session, 'data')).catch(() => undefined);
          if (started || data) out.push({ path: path.relative(root, path.join(full, session)), bytes: data?.size ?? 0 });
        }
      } else if (!e.name.startsWith('_')) await walk(full);
    }
  };
  await walk(path.join(root, prefix));
  return out;
}

describe('a composed build canceled while its binary layer is uploaded', { timeout: 600_000 }, () => {
  let registry: ScratchRegistry;
  let kiln: TestKiln;
  before(async () => {
    registry = await startScratchRegistry('plain');
    kiln = await startTestKiln({ builder: true, env: { ...registry.kilnEnv(), KILN_COMPOSITION: 'true', KILN_BUILD_ATTEMPTS: '1' } });
  });
  after(async () => {
    await kiln?.close();
    await registry?.remove();
  });

  it('leaves no upload session in the registry', async () => {
    const nonce = randomBytes(4).toString('hex');
    const prefix = kiln.config.REGISTRY_PREFIX;
    const up = await uploadStream(kiln, zeroFileArchive(`zeros-${nonce}.bin`, 2 * GiB), '?archive=tar');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const res = await postBuild(kiln, { uploadId: up.body.id, binaryPath: `/opt/canceled-${nonce}`, entrypoint: ['/bin/true'], image: `canceled-upload:${nonce}` });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = res.body.id as string;
    await logUntil(kiln, id, (t) => t.includes('kiln: composing')).reached;
    // Mid-upload: the registry has received bytes of the binary layer's blob (the root's layers are mounted, and the
    // config is put only after the binary layer is written).
    await waitUntil(async () => (await uploadSessions(registry, prefix)).some((s) => s.bytes > 0), 'the registry received part of the binary layer', 300_000, 50);
    const during = await uploadSessions(registry, prefix);
    assert.equal((await call(kiln, `/v1/builds/${id}/cancel`, { method: 'POST' })).status, 202);
    const build = await waitForBuild(kiln, id, 180_000);
    assert.equal(build.status, 'canceled', build.error ?? '');
    // The session is gone once the build is canceled; it stays gone once the registry has finished with the request
    // kiln cut off (the registry writes a session's state when its PATCH ends: that must not bring it back).
    assert.deepEqual(await uploadSessions(registry, prefix), [], `sessions open during the upload: ${JSON.stringify(during)}`);
    await waitUntil(() => registryDoneWith(registry), 'the registry logged the end of the PATCH', 60_000);
    assert.deepEqual(await uploadSessions(registry, prefix), [], 'no session came back once the registry ended the PATCH');
  });
});

/** Whether the registry has answered (or given up on) the PATCH that carried the binary layer: it logs each end. */
async function registryDoneWith(registry: ScratchRegistry): Promise<boolean> {
  const log = await readFile(path.join(registry.dir, 'registry.log'), 'utf8').catch(() => '');
  return log.split('\n').some((l) => l.includes('msg="response completed') && l.includes('http.request.method=PATCH'));
}

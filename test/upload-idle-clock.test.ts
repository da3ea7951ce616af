// The idle timeout is for clients that stop sending, not for kiln's own work: a small gzip archive that unpacks to a
// gigabyte keeps kiln inspecting it long after the client has sent every byte (kiln holds the body back meanwhile).
// With an idle timeout far shorter than that inspection, the upload must still be stored and answered.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call } from './helpers/api-client.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';
import { zeroFileArchive } from './hostile/tar-fixtures.ts';

const MiB = 1024 ** 2;
const UNPACKED = 1536 * MiB;
const IDLE_SECONDS = 1;

describe('the idle clock during an upload kiln is busy with', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  before(async () => {
    // The archive limit is 4× the upload limit: 512 MiB lets a 1.5 GiB archive through.
    kiln = await startTestKiln({ env: { KILN_HTTP_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS), KILN_UPLOAD_LIMIT_BYTES: String(512 * MiB) } });
  });
  after(() => kiln?.close());

  it('a gzip archive that takes longer to unpack than the idle timeout is stored and answered', async (t) => {
    const chunks: Buffer[] = [];
    for await (const c of zeroFileArchive('app/data.bin', UNPACKED)) chunks.push(c as Buffer);
    const archive = Buffer.concat(chunks);
    const started = Date.now();
    // Sent whole and at once: from its last byte on, the client only waits for kiln.
    const res = await call(kiln, '/v1/uploads?archive=tar', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(archive) });
    const seconds = (Date.now() - started) / 1000;
    t.diagnostic(`${(archive.length / 1e6).toFixed(1)} MB of gzip unpacking to 1.5 GiB: answered after ${seconds.toFixed(1)} s (idle timeout ${IDLE_SECONDS} s)`);
    assert.equal(res.status, 201, await res.clone().text());
    const upload = (await res.json()) as { kind: string; size: number; unpackedSize: number; entries: number };
    assert.equal(upload.kind, 'tar');
    assert.equal(upload.size, archive.length);
    assert.equal(upload.entries, 1);
    assert.ok(upload.unpackedSize > UNPACKED, `${upload.unpackedSize}`);
    // Otherwise this machine unpacked it faster than the idle timeout and the test proved nothing.
    assert.ok(seconds > IDLE_SECONDS, `answered in ${seconds} s: no longer than the idle timeout`);
  });
});

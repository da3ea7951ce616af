// Upload limits: an oversized body gets 413 and leaves nothing in S3 or the database, whether or not it declared its size.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { uploads } from '../core/db/schema/uploads.ts';
import { authHeaders, upload, type Target } from './helpers/api-client.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';
import { waitUntil } from './helpers/wait.ts';

const LIMIT = 1024 * 1024;

/**
 * Sends `chunks` with or without Content-Length, pausing between chunks, the way a real client does (curl, node's
 * http): it reads the answer while still writing and stops writing once it has one. Resolves with the status; a
 * connection that ends without an answer resolves with the error — a refusal that never arrived, so a failure.
 */
function send(target: Target, chunks: Buffer[], opts: { declareLength: boolean; abortAfter?: number }): Promise<number | string> {
  return new Promise((resolve) => {
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const req = http.request(`${target.url}/v1/uploads`, {
      method: 'POST',
      headers: { ...authHeaders(target), 'content-type': 'application/octet-stream', ...(opts.declareLength ? { 'content-length': total } : {}) },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    let aborted = false;
    req.on('error', (err) => resolve(aborted ? 'aborted' : `no answer: ${err.message}`));
    let i = 0;
    const next = () => {
      if (answered) return;
      if (opts.abortAfter !== undefined && i === opts.abortAfter) {
        aborted = true;
        req.destroy();
        return;
      }
      if (i === chunks.length) return void req.end();
      req.write(chunks[i++], () => setTimeout(next, 5));
    };
    if (opts.declareLength) {
      // Send the headers alone first: a server that refuses on Content-Length answers before any byte of the body.
      req.flushHeaders();
      setTimeout(next, 500);
    } else next();
  });
}

describe('uploads', () => {
  let kiln: TestKiln;
  before(async () => {
    kiln = await startTestKiln({ env: { KILN_UPLOAD_LIMIT_BYTES: String(LIMIT) } });
  });
  after(() => kiln?.close());

  const uploadRows = () => kiln.infra.database.db.$count(uploads);
  const objects = async () => (await kiln.objectKeys()).filter((k) => k.startsWith('uploads/'));

  it('accepts a body at the limit', async () => {
    const res = await upload(kiln, randomBytes(LIMIT));
    assert.equal(res.status, 201);
    assert.equal(res.body.size, LIMIT);
  });

  it('refuses a declared oversized body with 413 before reading it', async () => {
    const before = { rows: await uploadRows(), objects: (await objects()).length };
    const chunks = Array.from({ length: 2 }, () => randomBytes(LIMIT));
    assert.equal(await send(kiln, chunks, { declareLength: true }), 413);
    assert.equal(await uploadRows(), before.rows);
    assert.equal((await objects()).length, before.objects);
  });

  it('refuses a chunked body that grows past the limit with 413, every time, and leaves nothing behind', async () => {
    const before = { rows: await uploadRows(), objects: (await objects()).length };
    // The client is still writing when the 413 comes: kiln must let it read the answer (not reset the connection
    // under it), every one of many times.
    const outcomes: (number | string)[] = [];
    for (let n = 0; n < 30; n++) {
      const chunks = Array.from({ length: 40 }, () => randomBytes(64 * 1024)); // 2.5 MiB, no Content-Length
      outcomes.push(await send(kiln, chunks, { declareLength: false }));
    }
    assert.deepEqual(outcomes, Array(30).fill(413));
    await waitUntil(async () => (await objects()).length === before.objects, 'the refused uploads left objects in S3');
    assert.equal(await uploadRows(), before.rows);
  });

  it('an upload aborted half way leaves no object and no row', async () => {
    const before = { rows: await uploadRows(), objects: (await objects()).length };
    const chunks = Array.from({ length: 12 }, () => randomBytes(64 * 1024));
    assert.equal(await send(kiln, chunks, { declareLength: true, abortAfter: 6 }), 'aborted');
    await waitUntil(async () => (await objects()).length === before.objects, 'the aborted upload left an object in S3');
    assert.equal(await uploadRows(), before.rows);
  });
});

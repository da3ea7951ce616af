// Upload limits: an oversized body gets 413 and leaves nothing in S3 or the database, whether or not it declared its size.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { uploads } from '../core/db/schema/uploads.ts';
import { authHeaders, upload, type Target } from './helpers/api-client.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const LIMIT = 1024 * 1024;

/** Sends `chunks` with or without Content-Length, pausing between chunks; resolves with the status, or the error. */
function send(target: Target, chunks: Buffer[], opts: { declareLength: boolean; abortAfter?: number }): Promise<number | string> {
  return new Promise((resolve) => {
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const req = http.request(`${target.url}/v1/uploads`, {
      method: 'POST',
      headers: { ...authHeaders(target), 'content-type': 'application/octet-stream', ...(opts.declareLength ? { 'content-length': total } : {}) },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    let aborted = false;
    // A server that refuses mid-body closes the socket: the write may fail (EPIPE) just before its answer is read.
    req.on('error', (err) => (aborted ? resolve('aborted') : setTimeout(() => resolve(err.message), 500)));
    let i = 0;
    let answered = false;
    req.on('response', () => (answered = true));
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

  it('refuses a chunked body that grows past the limit with 413 and leaves nothing behind', async () => {
    const before = { rows: await uploadRows(), objects: (await objects()).length };
    const chunks = Array.from({ length: 40 }, () => randomBytes(64 * 1024)); // 2.5 MiB, no Content-Length
    assert.equal(await send(kiln, chunks, { declareLength: false }), 413);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await uploadRows(), before.rows);
    assert.equal((await objects()).length, before.objects);
  });

  it('an upload aborted half way leaves no object and no row', async () => {
    const before = { rows: await uploadRows(), objects: (await objects()).length };
    const chunks = Array.from({ length: 12 }, () => randomBytes(64 * 1024));
    assert.equal(await send(kiln, chunks, { declareLength: true, abortAfter: 6 }), 'aborted');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await uploadRows(), before.rows);
    assert.equal((await objects()).length, before.objects);
  });
});

// Connections that stall, trickle or hang up, on a real kiln: nothing a client leaves half way stays pinned in kiln
// (the idle, headers and request timeouts close it), a delivery URL that names no webhook is refused before its body
// is read, requests that wait on purpose outlast the idle timeout, and a client that hangs up is no error of kiln's.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { after, before, describe, it } from 'node:test';
import { uploads } from '../core/db/schema/uploads.ts';
import { call, followLog, postBuild, upload } from './helpers/api-client.ts';
import { rawExchange, within, type RawExchange } from './helpers/raw-http.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';
import { waitUntil } from './helpers/wait.ts';

const MiB = 1024 * 1024;
const IDLE_SECONDS = 1;
const HEADERS_SECONDS = 2;

describe('connections that stall, trickle or hang up', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  // Every raw connection a test opens; closed before kiln is (a kiln that kept one open would never close).
  const opened: RawExchange[] = [];
  const open = async (head: string, body?: Buffer) => {
    const ex = await rawExchange(kiln.url, head, body);
    opened.push(ex);
    return ex;
  };
  before(async () => {
    kiln = await startTestKiln({
      captureLog: true,
      env: {
        LOG_LEVEL: 'info',
        KILN_HTTP_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS),
        KILN_HTTP_HEADERS_TIMEOUT_SECONDS: String(HEADERS_SECONDS),
        KILN_UPLOAD_LIMIT_BYTES: String(64 * MiB),
      },
    });
  });
  after(async () => {
    for (const ex of opened) ex.socket.destroy();
    await kiln?.close();
  });

  const uploadObjects = async () => (await kiln.objectKeys()).filter((k) => k.startsWith('uploads/')).length;
  const uploadHead = (length: number) =>
    `POST /v1/uploads HTTP/1.1\r\nHost: kiln\r\nAuthorization: Bearer ${kiln.token}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`;

  it('an upload that stalls mid-body is closed after the idle timeout, and nothing of it is kept', async () => {
    const before = { rows: await kiln.infra.database.db.$count(uploads), objects: await uploadObjects() };
    const stalled = await open(uploadHead(32 * MiB), Buffer.alloc(MiB, 1));
    const t0 = Date.now();
    await within(stalled.closed, 30_000, 'kiln kept the stalled upload open');
    assert.ok(Date.now() - t0 >= IDLE_SECONDS * 1000 - 200, `closed after ${Date.now() - t0} ms, not before the idle timeout`);
    await waitUntil(async () => (await uploadObjects()) === before.objects, 'the stalled upload left an object in S3');
    assert.equal(await kiln.infra.database.db.$count(uploads), before.rows);
  });

  it('a delivery to a webhook that does not exist is answered 404 before its body is sent, and closed', async () => {
    const head =
      `POST /v1/webhooks/${randomUUID()}/deliveries HTTP/1.1\r\nHost: kiln\r\nContent-Type: application/json\r\n` +
      `X-Hub-Signature-256: sha256=${'0'.repeat(64)}\r\nContent-Length: ${5 * MiB}\r\n\r\n`;
    const delivery = await open(head, Buffer.alloc(64 * 1024, 0x20));
    // The rest of the body is never sent: an answer within any deadline came before it (30 s: a loaded machine).
    assert.equal(await within(delivery.answered, 30_000, 'no answer before the body'), 404);
    assert.match(delivery.received(), /connection: close/i);
    await within(delivery.closed, 30_000, 'the refused delivery stayed open');
  });

  it('headers that trickle in are cut off after the headers timeout, however lively the client', async () => {
    const trickle = await open('GET /healthz HTTP/1.1\r\nHost: kiln\r\n');
    // A header line every 300 ms: never idle for a second, never done either.
    const dripping = setInterval(() => trickle.socket.write(`X-Drip-${Date.now()}: 1\r\n`), 300);
    try {
      await within(trickle.closed, (HEADERS_SECONDS + 28) * 1000, 'kiln kept a connection whose headers never ended');
    } finally {
      clearInterval(dripping);
    }
    const status = trickle.status();
    assert.ok(status === undefined || status === 408, `answered ${status}`);
  });

  it('a long-poll and a live log wait longer than the idle timeout, as asked', async () => {
    const up = await upload(kiln, Buffer.from('#!/bin/sh\necho waited\n'));
    const queued = await postBuild(kiln, { uploadId: up.body.id, binaryPath: '/usr/local/bin/w', entrypoint: ['/usr/local/bin/w'], image: 'wait/app:1' });
    assert.equal(queued.status, 202); // no builder here: it stays queued
    const id = queued.body.id as string;
    const t0 = Date.now();
    const polled = await call(kiln, `/v1/builds/${id}?wait=3`);
    assert.equal(polled.status, 200);
    assert.equal(((await polled.json()) as { status: string }).status, 'queued');
    assert.ok(Date.now() - t0 >= 2900, `answered after ${Date.now() - t0} ms`);

    const followed = followLog(kiln, id);
    await sleep((IDLE_SECONDS + 2) * 1000);
    assert.equal((await call(kiln, `/v1/builds/${id}/cancel`, { method: 'POST' })).status, 202);
    const log = await within(followed, 10_000, 'the follower never saw the end');
    assert.equal(log.end, 'canceled');
    assert.match(log.chunks.map((c) => c.text).join(''), /canceled before it started/);
  });

  it('a client that hangs up mid-request is logged as such, never as an error of kiln', async () => {
    const outcomes = () => kiln.logLines().filter((l) => ['client went away before its request ended', 'request failed', 'request refused'].includes(l.msg));
    const before = outcomes().length;
    for (let i = 0; i < 10; i++) {
      const half = await open(uploadHead(8 * MiB), Buffer.alloc(2 * MiB, 7));
      half.socket.destroy();
    }
    for (let i = 0; i < 5; i++) {
      const head = `POST /v1/builds HTTP/1.1\r\nHost: kiln\r\nAuthorization: Bearer ${kiln.token}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`;
      const half = await open(head, Buffer.from('{"uploadId":"'));
      await sleep(50);
      half.socket.destroy();
    }
    await waitUntil(() => outcomes().length - before >= 15, 'kiln logged what became of every request that hung up');
    const errors = kiln.logLines().filter((l) => l.level >= 50);
    assert.deepEqual(errors.map((l) => `${l.msg}: ${JSON.stringify(l.err ?? '')}`), []);
  });
});

describe('the idle timeout while kiln answers', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  before(async () => {
    kiln = await startTestKiln({ db: 'postgres', env: { KILN_HTTP_IDLE_TIMEOUT_SECONDS: String(IDLE_SECONDS), KILN_HTTP_HEADERS_TIMEOUT_SECONDS: String(HEADERS_SECONDS) } });
  });
  after(() => kiln?.close());

  it('a request kiln takes longer to answer than the idle timeout is answered, not reset', async () => {
    const up = await upload(kiln, Buffer.from('#!/bin/sh\necho slow\n'));
    // Another session holds the builds table: the build request's insert waits three idle timeouts for it, as it waited
    // on a loaded machine for a busy database (CI: the client got "fetch failed" for a build kiln had queued).
    const blocker = new pg.Client({ connectionString: kiln.config.DATABASE_URL });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE builds IN ACCESS EXCLUSIVE MODE');
      const t0 = Date.now();
      const answer = postBuild(kiln, { uploadId: up.body.id, binaryPath: '/usr/local/bin/s', entrypoint: ['/usr/local/bin/s'], image: 'slow/app:1' }).catch((err: Error) => err);
      await sleep(3 * IDLE_SECONDS * 1000);
      await blocker.query('COMMIT');
      const res = await answer;
      assert.ok(!(res instanceof Error), `no answer: ${res instanceof Error ? `${res.message} (${String(res.cause)})` : ''}`);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.ok(Date.now() - t0 >= 3 * IDLE_SECONDS * 1000, `answered after ${Date.now() - t0} ms, before the lock was released`);
    } finally {
      await blocker.end();
    }
  });
});

// Which failures a build rides out, on what schedule, within which budget; and what its log says meanwhile.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BuildFailure, isTransient } from '../../builder/build-errors.ts';
import { backoffMs, decideRetry, DEFAULT_OUTAGE_POLICY, type RetryState } from '../../builder/outage-policy.ts';
import { createOutageRetry } from '../../builder/outage-retry.ts';
import { createRegistryTransport, RegistryError } from '../../core/registry-transport.ts';

const coded = (code: string) => Object.assign(new Error(`read ${code}`), { code });
/** What the registry client throws when the registry drops the connection: ECONNRESET two causes down. */
const wrappedReset = () =>
  new RegistryError('registry 127.0.0.1:5000 could not be reached at http://127.0.0.1:5000: ECONNRESET: read ECONNRESET', {
    cause: Object.assign(new TypeError('fetch failed'), { cause: coded('ECONNRESET') }),
  });

describe('which failures are outages', () => {
  it('a connection reset wrapped by the registry client is transient (it was not: the build failed at attempt 1)', () => {
    assert.equal(isTransient(wrappedReset()), true);
  });

  it('the real error of the registry client, against a server that drops every connection, is transient', async () => {
    const server: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const transport = createRegistryTransport({ host, plainHttpHosts: [host] });
      const err = await transport.request('/kiln/x/manifests/1').then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof RegistryError, String(err));
      assert.match((err as Error).message, /could not be reached/);
      assert.equal(isTransient(err), true);
    } finally {
      server.close();
    }
  });

  it('a BuildFailure decides for itself, whatever its cause; refusals and stops are not outages', () => {
    assert.equal(isTransient(new BuildFailure('the upload is gone', false, { cause: coded('ECONNRESET') })), false);
    assert.equal(isTransient(new BuildFailure('push failed: connection refused', true)), true);
    assert.equal(isTransient(new RegistryError('registry x: its token service refused the credentials of "robot" (401)')), false);
    assert.equal(isTransient(Object.assign(new Error('aborted'), { name: 'AbortError', cause: coded('ECONNRESET') })), false);
    assert.equal(isTransient(Object.assign(new Error('s3 503'), { $metadata: { httpStatusCode: 503 } })), true);
    assert.equal(isTransient(Object.assign(new Error('NoSuchKey'), { $metadata: { httpStatusCode: 404 } })), false);
  });

  it('a cause chain that loops ends', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    a.cause = new Error('b', { cause: a });
    assert.equal(isTransient(a), false);
  });
});

describe('backoff and budget', () => {
  const noJitter = { ...DEFAULT_OUTAGE_POLICY, jitter: 0 };
  const state = (over: Partial<RetryState>): RetryState => ({ failures: 1, firstFailureAt: 0, now: 0, deadline: 3_600_000, maxOutageMs: 600_000, ...over });

  it('doubles from 1 s up to 10 s; jitter stays within ±20 %', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 9].map((n) => backoffMs(n, noJitter, 0.5)), [1000, 2000, 4000, 8000, 10000, 10000, 10000]);
    assert.equal(backoffMs(3, DEFAULT_OUTAGE_POLICY, 0), 3200);
    assert.equal(backoffMs(3, DEFAULT_OUTAGE_POLICY, 0.999999), 4800);
  });

  it('a 20 s outage is ridden out in six waits (1+2+4+8+10 s = 25 s)', () => {
    let now = 0;
    let failures = 0;
    const waits: number[] = [];
    while (now < 20_000) {
      failures += 1;
      const d = decideRetry(wrappedReset(), state({ failures, now }), noJitter, 0.5);
      assert.ok(d.retry);
      waits.push(d.waitMs);
      now += d.waitMs;
    }
    assert.deepEqual(waits, [1000, 2000, 4000, 8000, 10000]);
  });

  it('no wait reaches past the build deadline, nor past the longest outage allowed', () => {
    const nearDeadline = decideRetry(wrappedReset(), state({ failures: 5, now: 100_000, deadline: 110_500 }), noJitter, 0.5);
    assert.deepEqual(nearDeadline, { retry: false, outage: true, reason: "the build's time budget ends in 10.5 s" });
    const tooLong = decideRetry(wrappedReset(), state({ failures: 9, firstFailureAt: 0, now: 55_000, maxOutageMs: 60_000 }), noJitter, 0.5);
    assert.equal(tooLong.retry, false);
    assert.match((tooLong as { reason: string }).reason, /KILN_OUTAGE_RETRY_SECONDS \(60\.0 s\)/);
  });

  it('a refusal is never retried', () => {
    assert.deepEqual(decideRetry(new BuildFailure('denied', false), state({}), noJitter, 0.5), { retry: false, outage: false, reason: 'the failure is not an outage' });
  });
});

describe('the retry runner', () => {
  let clock = 0;
  const log: string[] = [];
  const retryWith = (deadline: number, maxOutageSeconds = 600) =>
    createOutageRetry({
      appendLog: (t) => log.push(t),
      signal: new AbortController().signal,
      deadline,
      maxOutageSeconds,
      now: () => clock,
      random: () => 0.5,
      wait: async (ms) => void (clock += ms),
    });
  before(() => void (clock = 0));
  after(() => void (log.length = 0));

  it('calls again until the registry is back, and the log tells each attempt, each wait and the total', async () => {
    log.length = 0;
    clock = 0;
    let calls = 0;
    const result = await retryWith(3_600_000)('storing the manifest kiln/app:1', async () => {
      calls += 1;
      if (clock < 20_000) throw wrappedReset();
      return 'sha256:done';
    });
    assert.equal(result, 'sha256:done');
    assert.equal(calls, 6);
    assert.match(log[0]!, /^kiln: storing the manifest kiln\/app:1 failed at attempt 1: registry 127\.0\.0\.1:5000 could not be reached .*ECONNRESET.*; retrying in 1\.0 s\n$/);
    assert.match(log[4]!, /failed at attempt 5: .*; retrying in 10\.0 s/);
    assert.equal(log[5], 'kiln: storing the manifest kiln/app:1 succeeded at attempt 6, after 25.0 s of waiting (25.0 s since the first failure)\n');
  });

  it('gives up when the budget ends, with the last error and why', async () => {
    log.length = 0;
    clock = 0;
    await assert.rejects(
      retryWith(8_000)('pushing kiln/app:1', async () => {
        throw wrappedReset();
      }),
      RegistryError,
    );
    // Waits of 1, 2 and 4 s each leave 1 s to run before the 8 s deadline; the next (8 s) would not.
    assert.equal(log.length, 4, log.join(''));
    assert.match(log[3]!, /failed at attempt 4: .*giving up after 7\.0 s of waiting: the build's time budget ends in 1\.0 s/);
  });

  it('a failure that is no outage goes up at once, and the log says nothing of retries', async () => {
    log.length = 0;
    await assert.rejects(retryWith(3_600_000)('pushing kiln/app:1', async () => Promise.reject(new BuildFailure('denied', false))), /denied/);
    assert.deepEqual(log, []);
  });
});

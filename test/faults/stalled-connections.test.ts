// Fault: a thousand connections that stall (loopback only, against an api process this test starts): silent ones,
// half-sent headers, uploads and build requests that stop mid-body, deliveries to webhooks that do not exist. With
// the default timeouts the api's memory stays bounded, /healthz keeps answering, and kiln closes every one of them.
// The figures are printed.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../core/config.ts';
import { stopChild } from '../helpers/builder-process.ts';
import { freePort } from '../helpers/ports.ts';
import { rawExchange, type RawExchange } from '../helpers/raw-http.ts';
import { startTestKiln, type TestKiln } from '../helpers/test-kiln.ts';
import { waitUntil } from '../helpers/wait.ts';

const repo = path.resolve(import.meta.dirname, '../..');
const MiB = 1024 * 1024;
/** The defaults a production api runs with (core/config.ts): the test sets none of its own (only what has none). */
const defaults = loadConfig({ S3_BUCKET: 'unused', S3_ACCESS_KEY_ID: 'x', S3_SECRET_ACCESS_KEY: 'x', REGISTRY_HOST: 'unused.invalid' });

/** VmRSS and VmHWM (the kernel's record of the peak) of a process, in MB. */
async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

describe('a thousand stalled connections', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  let api: ChildProcess;
  let url: string;
  const opened: RawExchange[] = [];
  before(async () => {
    // Isolation (bucket, queue prefix, PostgreSQL database) and a token from a test kiln; the api under test is a
    // process of its own, as production runs it (bundled, plain node), so its memory is its own.
    kiln = await startTestKiln({ db: 'postgres' });
    const built = spawnSync('npm', ['run', '--silent', 'api:build'], { cwd: repo, stdio: 'inherit' });
    assert.equal(built.status, 0, 'npm run api:build');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const env = Object.fromEntries(Object.entries(kiln.env).filter(([k]) => !k.startsWith('KILN_HTTP_')));
    api = spawn(process.execPath, ['api/dist/server.mjs'], { cwd: repo, env: { ...env, KILN_PORT: String(port), LOG_LEVEL: 'warn' } as NodeJS.ProcessEnv, stdio: ['ignore', 'ignore', 'inherit'] });
    await waitUntil(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok === true, 'the api process serves', 60_000, 200);
  });
  after(async () => {
    for (const ex of opened) ex.socket.destroy();
    await stopChild(api);
    await kiln?.close();
  });

  it('memory stays bounded, /healthz answers, and the timeouts close every one', async (t) => {
    // At rest: the routes under attack have each served once (JIT, S3, database and Redis connections are warm).
    const auth = `Authorization: Bearer ${kiln.token}\r\n`;
    await fetch(`${url}/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${kiln.token}`, 'content-type': 'application/octet-stream' }, body: 'warm' });
    await fetch(`${url}/v1/builds`, { method: 'POST', headers: { authorization: `Bearer ${kiln.token}`, 'content-type': 'application/json' }, body: '{}' });
    await fetch(`${url}/v1/webhooks/${randomUUID()}/deliveries`, { method: 'POST', body: '{}' });
    const rest = await memory(api.pid!);

    const kinds: [name: string, count: number, head: () => string, body?: Buffer][] = [
      ['silent', 300, () => ''],
      ['half-sent headers', 200, () => `POST /v1/uploads HTTP/1.1\r\nHost: kiln\r\n${auth}`],
      ['upload stopped mid-body', 200, () => `POST /v1/uploads HTTP/1.1\r\nHost: kiln\r\n${auth}Content-Type: application/octet-stream\r\nContent-Length: ${8 * MiB}\r\n\r\n`, Buffer.alloc(256 * 1024, 7)],
      ['build request stopped mid-body', 100, () => `POST /v1/builds HTTP/1.1\r\nHost: kiln\r\n${auth}Content-Type: application/json\r\nContent-Length: ${200 * 1024}\r\n\r\n`, Buffer.from(`{"uploadId":"${'x'.repeat(16 * 1024)}`)],
      ['delivery to no webhook', 200, () => `POST /v1/webhooks/${randomUUID()}/deliveries HTTP/1.1\r\nHost: kiln\r\nContent-Type: application/json\r\nContent-Length: ${5 * MiB}\r\n\r\n`, Buffer.alloc(64 * 1024, 0x20)],
    ];
    const t0 = Date.now();
    const closedAt: number[] = [];
    for (const [, count, head, body] of kinds) {
      for (let i = 0; i < count; i++) {
        const ex = await rawExchange(url, head(), body);
        opened.push(ex);
        void ex.closed.then(() => closedAt.push(Date.now() - t0));
      }
    }
    assert.equal(opened.length, 1000);

    const h0 = Date.now();
    const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5_000) });
    const healthMs = Date.now() - h0;
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });

    // Every connection is closed by kiln (this side never closes one): within the idle timeout, plus a margin.
    const deadline = (defaults.KILN_HTTP_IDLE_TIMEOUT_SECONDS + 20) * 1000;
    await waitUntil(() => closedAt.length === opened.length, `kiln closed ${closedAt.length} of ${opened.length} stalled connections`, deadline, 250);
    const peak = (await memory(api.pid!)).peak;
    const byKind = kinds.map(([name, count], k) => {
      const start = kinds.slice(0, k).reduce((n, [, c]) => n + c, 0);
      const statuses = opened.slice(start, start + count).map((ex) => ex.status() ?? 'none');
      const counted = statuses.reduce<Record<string, number>>((n, s) => ({ ...n, [s]: (n[s] ?? 0) + 1 }), {});
      return `${count} ${name} (answers: ${JSON.stringify(counted)})`;
    });
    t.diagnostic(`stalled connections: ${byKind.join('; ')}`);
    t.diagnostic(
      `api RSS at rest ${rest.rss.toFixed(0)} MB, peak ${peak.toFixed(0)} MB (+${(peak - rest.rss).toFixed(0)} MB); /healthz answered 200 in ${healthMs} ms ` +
        `with all 1000 open; all 1000 closed by kiln, the last ${(Math.max(...closedAt) / 1000).toFixed(1)} s after the first was opened ` +
        `(idle timeout ${defaults.KILN_HTTP_IDLE_TIMEOUT_SECONDS} s, headers ${defaults.KILN_HTTP_HEADERS_TIMEOUT_SECONDS} s)`,
    );
    // Bounded: what the thousand clients sent is about 55 MB; kiln must not hold much more than that.
    assert.ok(peak - rest.rss < 150, `the api grew by ${(peak - rest.rss).toFixed(0)} MB`);
    assert.equal(api.exitCode, null, 'the api is still running');
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  });
});

// The database opens on PGlite and PostgreSQL with the committed migrations, guards PGlite against a second process,
// and refuses to serve when a migration fails.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { DatabaseLockedError, openDatabase } from '../core/db/database.ts';
import { uploads } from '../core/db/schema/uploads.ts';
import { freePort } from './helpers/ports.ts';
import { startTestKiln } from './helpers/test-kiln.ts';
import { waitUntil } from './helpers/wait.ts';

const log = pino({ level: 'silent' });
const temps: string[] = [];
after(() => Promise.all(temps.map((d) => rm(d, { recursive: true, force: true }))));

describe('database', () => {
  it('PGlite in the data dir keeps rows across reopen and refuses a second opener', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'kiln-pglite-'));
    temps.push(dir);
    const pgliteDir = path.join(dir, 'pglite');
    const first = await openDatabase({ pgliteDir, log });
    await first.db.insert(uploads).values({ id: crypto.randomUUID(), project: 'p', sha256: 'a', size: 1, s3Key: 'k' });
    await assert.rejects(openDatabase({ pgliteDir, log }), DatabaseLockedError);

    // Another process, too: it must fail with the message that tells the user what to do.
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', `
      const { openDatabase } = await import(${JSON.stringify(path.resolve(import.meta.dirname, '../core/db/database.ts'))});
      const { pino } = await import('pino');
      try { await openDatabase({ pgliteDir: ${JSON.stringify(pgliteDir)}, log: pino({ level: 'silent' }) }); process.exit(0); }
      catch (e) { console.error(e.message); process.exit(3); }`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const code = await new Promise((r) => child.on('exit', r));
    assert.equal(code, 3);
    assert.match(stderr, /in use by another kiln process.*DATABASE_URL/s);

    await first.close();
    const reopened = await openDatabase({ pgliteDir, log });
    assert.equal(await reopened.db.$count(uploads), 1);
    await reopened.close();
  });

  it('a failed migration on PostgreSQL stops the open with the error', async (t) => {
    const admin = process.env.TEST_POSTGRES_URL;
    if (!admin) return t.skip('TEST_POSTGRES_URL not set (run with npm test)');
    const name = `kiln_test_mig_${Math.random().toString(16).slice(2, 10)}`;
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    await client.query(`CREATE DATABASE ${name}`);
    try {
      const url = new URL(admin);
      url.pathname = `/${name}`;
      // A table in the way, of another shape: the first migration's CREATE TABLE must fail.
      const blocker = new pg.Client({ connectionString: url.toString() });
      await blocker.connect();
      await blocker.query('CREATE TABLE uploads (id int)');
      await blocker.end();
      await assert.rejects(openDatabase({ url: url.toString(), pgliteDir: 'unused', log }), /uploads/);
    } finally {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    }
  });

  it('a kiln SIGKILLed on PGlite and started again at once waits for its stale lock, says so, and serves', async () => {
    // The services and isolation of a test kiln; the api processes below run on PGlite in a data dir of their own.
    const kiln = await startTestKiln();
    const dataDir = await mkdtemp(path.join(tmpdir(), 'kiln-crash-lock-'));
    temps.push(dataDir);
    const children: ChildProcess[] = [];
    try {
      const port = await freePort();
      const start = () => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
          cwd: path.resolve(import.meta.dirname, '..'),
          env: { ...kiln.env, DATABASE_URL: undefined, KILN_DATA_DIR: dataDir, KILN_PORT: String(port), LOG_LEVEL: 'info' } as NodeJS.ProcessEnv,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        let output = '';
        child.stdout!.on('data', (c) => (output += c));
        child.stderr!.on('data', (c) => (output += c));
        return { child, output: () => output };
      };
      const serves = async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200;

      const first = start();
      await waitUntil(serves, 'the first api serves', 120_000);
      const exited = new Promise((r) => first.child.once('exit', r));
      first.child.kill('SIGKILL');
      await exited;

      const second = start();
      await waitUntil(async () => second.child.exitCode === null && (await serves()), `the api started again after the crash:\n${second.output()}`, 120_000, 250).catch((err) => {
        throw new Error(`${(err as Error).message}\n${second.output()}`);
      });
      assert.match(second.output(), new RegExp(`held by kiln process ${first.child.pid}, which is gone \\(crashed or killed\\) and no longer renewed; waiting for it to go stale`));
      assert.match(second.output(), /took over the embedded database lock/);
    } finally {
      for (const c of children) {
        if (c.exitCode !== null || c.signalCode !== null) continue;
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await gone;
      }
      await kiln.close();
    }
  });
});

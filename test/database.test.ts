// The database opens on PGlite and PostgreSQL with the committed migrations, guards PGlite against a second process,
// and refuses to serve when a migration fails.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { DatabaseLockedError, openDatabase } from '../core/db/database.ts';
import { uploads } from '../core/db/schema/uploads.ts';

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
});

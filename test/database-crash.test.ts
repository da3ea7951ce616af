// The embedded database after a crash: a kiln killed with SIGKILL leaves its PGlite lock behind; started again at
// once, kiln sees that the lock's holder is gone, waits until the lock is stale, takes it over, says so, and serves.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { freePort } from './helpers/ports.ts';
import { startTestKiln } from './helpers/test-kiln.ts';
import { waitUntil } from './helpers/wait.ts';

const temps: string[] = [];
after(() => Promise.all(temps.map((d) => rm(d, { recursive: true, force: true }))));

describe('the embedded database after a crash', { timeout: 600_000 }, () => {
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

      // A lock renewed moments before the crash is the case to prove, and how long the second start takes to reach
      // the database depends on the machine's load (past 15 s the lock would already be stale). So the lock is kept
      // fresh, as the crashed process's last renewal, until the second has found it held; then nobody renews it.
      const lockPath = path.join(dataDir, 'pglite.lock');
      const second = start();
      const waitingForStale = () => second.output().includes('waiting for it to go stale');
      while (!waitingForStale() && second.child.exitCode === null) {
        const now = new Date();
        await utimes(lockPath, now, now);
        await sleep(500);
      }
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

// A bench ended with SIGTERM (a CI job canceled, a terminal closed) ends what it started: `bench:build`'s second
// dockerd is gone once the bench has exited, not left running with its mounts, bridge and data.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { waitFor } from './helpers/api-client.ts';

const repo = path.resolve(import.meta.dirname, '..');

/** Children of `parent` whose command is `name` (from /proc: what `ps --ppid` shows). */
async function childrenNamed(parent: number, name: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …; comm may hold spaces, so read after its closing parenthesis.
    const m = /^\d+ \((.*)\) \S+ (\d+)/s.exec(stat);
    if (m && m[1] === name && Number(m[2]) === parent) found.push(Number(entry));
  }
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('bench:build on SIGTERM', { timeout: 900_000 }, () => {
  it('ends the second dockerd it started', async () => {
    const bench = spawn(process.execPath, ['--import', 'tsx', 'bench/build.ts', '--combos', 'jdk+openssl', '--runs', '1'], {
      cwd: repo,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    bench.stdout.on('data', (c: Buffer) => void (output += c.toString('utf8')));
    bench.stderr.on('data', (c: Buffer) => void (output += c.toString('utf8')));
    const exited = new Promise<number | string | null>((resolve) => bench.once('exit', (code, signal) => resolve(code ?? signal)));
    let dockerd: number | undefined;
    try {
      // Its second engine runs: a dockerd child of the bench, and the bench at work on it (a log line after the start).
      dockerd = await waitFor(
        'the bench to start its second engine',
        async () => {
          if (bench.exitCode !== null) throw new Error(`the bench exited:\n${output.slice(-3000)}`);
          const [pid] = await childrenNamed(bench.pid!, 'dockerd');
          return pid !== undefined && /measuring on the second engine|"msg":"measured"/.test(output) ? pid : undefined;
        },
        600_000,
        500,
      );

      bench.kill('SIGTERM');
      const end = await Promise.race([exited, new Promise((r) => setTimeout(r, 180_000, 'still running'))]);
      assert.notEqual(end, 'still running', `the bench ends within 3 minutes of SIGTERM:\n${output.slice(-3000)}`);
      assert.ok(!alive(dockerd), `the second dockerd (pid ${dockerd}) ended with the bench:\n${output.slice(-3000)}`);
    } finally {
      if (bench.exitCode === null && bench.signalCode === null) bench.kill('SIGKILL');
      // On a bench that leaves it behind (the failure this test is about), the test ends it: it started it.
      if (dockerd && alive(dockerd)) process.kill(dockerd, 'SIGTERM');
    }
  });
});

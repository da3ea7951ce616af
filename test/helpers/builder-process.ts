// Builders in their own processes (`npm run builder`), as on other hosts, sharing a test kiln's isolation.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { endOnSignal } from './end-on-signal.ts';
import type { TestKiln } from './test-kiln.ts';

const repo = path.resolve(import.meta.dirname, '../..');

/**
 * `env` adds to (or overrides) the kiln's own environment: concurrency, DOCKER_HOST of another engine, … `logs`: the
 * builder's log (at the kiln's LOG_LEVEL) goes to the test's stderr, where a failure's cause can be read.
 */
export function spawnBuilder(kiln: TestKiln, env: Record<string, string>, opts: { logs?: boolean } = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'builder/main.ts'], {
    cwd: repo,
    env: { ...kiln.env, ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', opts.logs ? 2 : 'ignore', 'inherit'], // never stdout: the test runner reads it
  });
  child.once('exit', endOnSignal(() => stopChild(child)));
  return child;
}

/** SIGTERM (the builder's graceful shutdown), then SIGKILL after 30 s. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(30_000, undefined, { ref: false }).then(() => child.kill('SIGKILL'))]);
}

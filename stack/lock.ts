// Cross-process lock for local-stack (a directory under <stateDir>/locks), so concurrent callers do not double-start.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { isAlive, sleep } from './process.ts';

/**
 * Cross-process mutex as a directory under <stateDir>/locks (mkdir is atomic). The holder's pid is stored inside so
 * a lock left by a crashed process is taken over instead of blocking forever.
 */
export async function withLock<T>(stateDir: string, lockName: string, timeoutMs: number, log: Logger, fn: () => Promise<T>): Promise<T> {
  const dir = path.join(stateDir, 'locks', `${lockName.replace(/[^A-Za-z0-9._-]/g, '_')}.lock`);
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      await fs.mkdir(dir);
      await fs.writeFile(path.join(dir, 'owner'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number.parseInt(await fs.readFile(path.join(dir, 'owner'), 'utf8').catch(() => ''), 10);
    const age = Date.now() - ((await fs.stat(dir).catch(() => null))?.mtimeMs ?? Date.now());
    // No owner file yet is normal for a few ms after mkdir; only call it stale once it is clearly old.
    if ((Number.isInteger(owner) && !isAlive(owner)) || (!Number.isInteger(owner) && age > 10000)) {
      log.warn({ lock: dir, owner }, 'removing stale lock');
      await fs.rm(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for lock ${dir} (held by pid ${owner})`);
    if (!told) { log.info({ lock: dir, owner }, 'waiting for lock'); told = true; }
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

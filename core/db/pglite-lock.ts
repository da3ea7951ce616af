// The embedded database's lock: PGlite takes none of its own, and two processes on one directory corrupt it. A lock
// held by a live kiln process refuses the opener at once; one left by a process that crashed (SIGKILL, power loss)
// is waited for until it goes stale, and then taken over, saying so in the log.
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import type { Logger } from '../logger.ts';

/** The holder renews the lock every UPDATE_MS; a lock not renewed for STALE_MS is a dead holder's, and is taken over. */
const STALE_MS = 15_000;
const UPDATE_MS = 5_000;

export class DatabaseLockedError extends Error {
  constructor(dir: string, holder?: number) {
    super(
      `the embedded database at ${dir} is in use by another kiln process${holder ? ` (pid ${holder})` : ''}; PGlite cannot be shared between ` +
        'processes. Stop the other process, or run each process against PostgreSQL by setting DATABASE_URL.',
    );
    this.name = 'DatabaseLockedError';
  }
}

interface Owner {
  pid: number;
  host: string;
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Takes the lock of the PGlite directory `dir`; resolves with its release. */
export async function lockPgliteDir(dir: string, log: Pick<Logger, 'warn' | 'info'>): Promise<() => Promise<void>> {
  const lockPath = `${dir}.lock`;
  // Who holds it, beside the lock (proper-lockfile's lock is a bare directory it removes with rmdir).
  const ownerPath = `${dir}.lock-owner`;
  const deadline = Date.now() + STALE_MS + UPDATE_MS + 5_000;
  let waiting = false;
  for (;;) {
    try {
      const release = await lockfile.lock(dir, { lockfilePath: lockPath, stale: STALE_MS, update: UPDATE_MS });
      await writeFile(ownerPath, JSON.stringify({ pid: process.pid, host: hostname() } satisfies Owner));
      if (waiting) log.info({ dir }, 'took over the embedded database lock');
      return async () => {
        await rm(ownerPath, { force: true });
        await release();
      };
    } catch (err) {
      if ((err as { code?: string }).code !== 'ELOCKED') throw err;
    }
    const owner = (await readFile(ownerPath, 'utf8').then((t) => JSON.parse(t) as Owner).catch(() => undefined)) ?? undefined;
    const renewedAgo = Date.now() - ((await stat(lockPath).catch(() => undefined))?.mtimeMs ?? 0);
    const here = owner?.host === hostname();
    // A live holder renews every UPDATE_MS: alive and recently renewed is a kiln process using the database now.
    if (here && isAlive(owner.pid) && renewedAgo < 2 * UPDATE_MS) throw new DatabaseLockedError(dir, owner.pid);
    if (Date.now() > deadline) throw new DatabaseLockedError(dir, owner?.pid);
    if (!waiting) {
      waiting = true;
      const who = !owner ? 'a process that left no owner record' : here && !isAlive(owner.pid) ? `kiln process ${owner.pid}, which is gone (crashed or killed)` : `pid ${owner.pid} on ${owner.host}`;
      log.warn(
        { dir, holder: owner, renewedMsAgo: Math.round(renewedAgo) },
        `the embedded database lock is held by ${who} and no longer renewed; waiting for it to go stale (${STALE_MS / 1000} s after its last renewal), then taking it over`,
      );
    }
    await sleep(500);
  }
}

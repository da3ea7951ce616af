// One Redis connection that tails every log stream this process follows: a single XREAD BLOCK over all of them,
// handing each new entry to the followers of its stream. A follower costs memory here, not a Redis connection, so ten
// thousand live log followers cannot exhaust the Redis that every project's queue depends on.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

/** Stream entries as XREAD and XRANGE return them. */
export type StreamEntries = [id: string, fields: string[]][];

/** How long one XREAD blocks; a follower that joins meanwhile wakes it (CLIENT UNBLOCK) rather than waiting this long. */
const BLOCK_MS = 2000;
const BATCH = 500;

/** Orders two stream ids (`<ms>-<seq>`, or `0`). */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm) || BigInt(as) - BigInt(bs);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** One follower of one stream: the entries after its position, in order, each once. */
export interface TailSubscription {
  /** Entries after what was taken so far, waiting up to `ms` for some; [] when none came (or `signal` fired). */
  next(ms: number, signal: AbortSignal): Promise<StreamEntries>;
  close(): void;
}

interface Subscriber {
  last: string;
  queue: StreamEntries;
  wake: (() => void) | undefined;
}

export function createLogTail(deps: { redis: Redis; log: Pick<Logger, 'warn'> }) {
  const subscribers = new Map<string, Set<Subscriber>>();
  /** Where the shared read continues, per stream: the lowest position any follower needed when it joined. */
  const positions = new Map<string, string>();
  let conn: Redis | undefined;
  let connId: number | undefined;
  let running = false;
  let closed = false;

  /** Entries read after `from`: each follower gets those after its own position — if the read did not skip past it. */
  const deliver = (key: string, from: string, entries: StreamEntries) => {
    for (const sub of subscribers.get(key) ?? []) {
      if (compareStreamIds(from, sub.last) > 0) continue; // it joined further back: the read restarted there serves it
      const fresh = entries.filter(([id]) => compareStreamIds(id, sub.last) > 0);
      if (fresh.length === 0) continue;
      sub.last = fresh.at(-1)![0];
      sub.queue.push(...fresh);
      sub.wake?.();
    }
  };

  async function loop(): Promise<void> {
    conn ??= deps.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, connectionName: 'kiln-log-tail' });
    conn.on('error', () => undefined); // ioredis reconnects; the read below waits for it
    conn.on('close', () => (connId = undefined));
    while (!closed && subscribers.size > 0) {
      const keys = [...subscribers.keys()];
      const from = new Map(keys.map((k) => [k, positions.get(k)!]));
      try {
        connId ??= Number(await conn.client('ID'));
        const res = (await conn.xread('COUNT', BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', ...keys, ...keys.map((k) => from.get(k)!))) as
          | [string, StreamEntries][]
          | null;
        for (const [key, entries] of res ?? []) {
          const start = from.get(key)!;
          if (entries.length === 0) continue;
          // Moved back meanwhile (a follower joined further back): keep that position; the next read starts there.
          if (positions.get(key) === start) positions.set(key, entries.at(-1)![0]);
          deliver(key, start, entries);
        }
      } catch (err) {
        if (closed) break;
        deps.log.warn({ err }, 'reading the followed log streams failed; trying again');
        await sleep(500);
      }
    }
    running = false;
  }

  /** A follower joined (or needs an earlier position): the blocked read must start again with it. */
  const restartRead = () => {
    if (!running) {
      running = true;
      void loop();
    } else if (connId !== undefined) {
      // Best effort: if the read is not blocked yet, it starts with the new position anyway, or within BLOCK_MS.
      void deps.redis.client('UNBLOCK', connId).catch(() => undefined);
    }
  };

  return {
    /** Follows `key` from after `fromId` ('0' = the start). */
    subscribe(key: string, fromId: string): TailSubscription {
      const sub: Subscriber = { last: fromId, queue: [], wake: undefined };
      let set = subscribers.get(key);
      if (!set) subscribers.set(key, (set = new Set()));
      set.add(sub);
      const at = positions.get(key);
      if (at === undefined || compareStreamIds(fromId, at) < 0) {
        // Read again from here; followers already further along skip what they have seen.
        positions.set(key, fromId);
        restartRead();
      }
      return {
        async next(ms, signal) {
          if (sub.queue.length === 0 && !signal.aborted) {
            await new Promise<void>((resolve) => {
              const done = () => {
                clearTimeout(timer);
                signal.removeEventListener('abort', done);
                sub.wake = undefined;
                resolve();
              };
              const timer = setTimeout(done, ms);
              signal.addEventListener('abort', done, { once: true });
              sub.wake = done;
            });
          }
          return sub.queue.splice(0);
        },
        close() {
          set.delete(sub);
          if (set.size === 0 && subscribers.get(key) === set) {
            subscribers.delete(key);
            positions.delete(key);
          }
        },
      };
    },

    /** How many streams and followers are being tailed (for tests and metrics). */
    stats: () => ({ streams: subscribers.size, followers: [...subscribers.values()].reduce((n, s) => n + s.size, 0) }),

    close(): void {
      closed = true;
      conn?.disconnect();
    },
  };
}

export type LogTail = ReturnType<typeof createLogTail>;

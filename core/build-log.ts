// A build's log: a Redis stream while the build runs (so any api process can follow it live, and a retry on another
// builder continues it), copied to S3 when the build ends (the lasting record), with an end marker for followers.
import type { Redis } from 'ioredis';
import type { BlobStore } from './blob-store.ts';
import { createLogTail, type LogTail, type StreamEntries } from './log-tail.ts';
import type { Logger } from './logger.ts';
import { buildLogStreamKey } from './queues.ts';
import { escapeStripper } from './terminal-text.ts';

/** Where a build's log is kept once it ends. */
export const buildLogKey = (buildId: string) => `logs/${buildId}.log`;

/** A follower's view of the log: text as it is written, then how the build ended. */
export type LogEvent = { id: string; text: string } | { id: string; end: string };

/** How long a finished build's stream stays in Redis (late followers then read the S3 copy). */
const ENDED_STREAM_TTL_SECONDS = 3600;
/** Appends are batched: one XADD per this many ms (engine output comes a line at a time). */
const FLUSH_MS = 100;

export interface BuildLogDeps {
  redis: Redis;
  blobs: Pick<BlobStore, 'putText' | 'getText'>;
  prefix: string;
  /** Where the shared tail of followed logs reports trouble reading Redis. */
  log?: Pick<Logger, 'warn'>;
}

const toEvents = (entries: StreamEntries): LogEvent[] =>
  entries.map(([id, fields]) => (fields[0] === 'end' ? { id, end: fields[1] ?? '' } : { id, text: fields[1] ?? '' }));

export function createBuildLog(deps: BuildLogDeps) {
  const key = (buildId: string) => buildLogStreamKey(deps.prefix, buildId);
  // Made on the first follower: a builder, which only writes logs, never opens its connection.
  let tail: LogTail | undefined;

  const streamText = async (buildId: string): Promise<string> =>
    toEvents((await deps.redis.xrange(key(buildId), '-', '+')) as StreamEntries)
      .map((e) => ('text' in e ? e.text : ''))
      .join('');

  return {
    /**
     * Appends in order, batched; `flush()` resolves once everything appended so far is in Redis. Terminal escapes
     * (colours the engine's tools print) are dropped: the log is kept and served as plain text.
     */
    writer(buildId: string) {
      const plain = escapeStripper();
      let buffer = '';
      let timer: NodeJS.Timeout | undefined;
      let chain: Promise<unknown> = Promise.resolve();
      const flush = (): Promise<void> => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        if (buffer) {
          const text = buffer;
          buffer = '';
          chain = chain.then(() => deps.redis.xadd(key(buildId), '*', 't', text));
        }
        return chain.then(() => undefined);
      };
      return {
        append(raw: string): void {
          const text = plain.push(raw);
          if (!text) return;
          buffer += text;
          timer ??= setTimeout(() => void flush().catch(() => undefined), FLUSH_MS);
        },
        flush,
      };
    },

    /**
     * The build has ended: keep the full log in S3, then tell followers (end marker) and let the stream expire.
     * Called after the status is recorded, so a reader who sees the end status finds the S3 copy.
     */
    async finish(buildId: string, status: string): Promise<void> {
      await deps.blobs.putText(buildLogKey(buildId), await streamText(buildId));
      await deps.redis.xadd(key(buildId), '*', 'end', status);
      await deps.redis.expire(key(buildId), ENDED_STREAM_TTL_SECONDS);
    },

    /** The log as it is now: the S3 copy once the build has ended, else what the stream holds. */
    async text(buildId: string): Promise<string> {
      return (await deps.blobs.getText(buildLogKey(buildId))) ?? (await streamText(buildId));
    },

    /**
     * Follows the log from after `fromId` ('0' = the start) until the end marker or `signal`. Every follower of this
     * process shares one Redis connection (core/log-tail.ts). `ended()` is asked when nothing arrived for a while: a
     * build that ended without a marker in the stream (its stream expired) is served from the S3 copy instead.
     */
    async *follow(buildId: string, opts: { fromId?: string; signal: AbortSignal; ended: () => Promise<string | undefined> }): AsyncGenerator<LogEvent> {
      let last = opts.fromId ?? '0';
      tail ??= createLogTail({ redis: deps.redis, log: deps.log ?? { warn: () => undefined } });
      const subscription = tail.subscribe(key(buildId), last);
      try {
        // Asked before the first read when there is no stream (long ended: its stream expired), and whenever nothing
        // arrived for a while. Ended without an end marker in the stream: serve the S3 copy, unless this follower
        // already read part of the stream (then only the end).
        let askEnded = (await deps.redis.exists(key(buildId))) === 0;
        while (!opts.signal.aborted) {
          if (askEnded) {
            const status = await opts.ended();
            if (status !== undefined) {
              if (last === '0') yield { id: '0-1', text: (await deps.blobs.getText(buildLogKey(buildId))) ?? '' };
              yield { id: '0-2', end: status };
              return;
            }
          }
          const entries = await subscription.next(5000, opts.signal);
          for (const event of toEvents(entries)) {
            last = event.id;
            yield event;
            if ('end' in event) return;
          }
          askEnded = entries.length === 0;
        }
      } finally {
        subscription.close();
      }
    },

    /** Followers stop being served; the shared connection closes. */
    close(): void {
      tail?.close();
    },
  };
}

export type BuildLog = ReturnType<typeof createBuildLog>;

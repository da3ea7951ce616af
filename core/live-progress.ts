// A running build's progress, as its builder sees it: the step it is on (since when) and the steps it has done, kept
// in Redis next to the queue (any api process can read it; it expires a day after the last change). The builder
// writes it at each change of step; GET /v1/builds/:id reads it to say where the build is and how long it has left.
import type { Redis } from 'ioredis';
import type { StepKind } from './db/schema/builds.ts';
import type { Logger } from './logger.ts';
import { progressKey } from './queues.ts';

export interface LiveStep {
  kind: StepKind;
  /** Component key, `binary`, `verify`, `pull` or `push`. */
  component: string;
}

export interface LiveProgress {
  /** Epoch ms when this attempt started. */
  startedAt: number;
  done: (LiveStep & { seconds: number })[];
  current: (LiveStep & { since: number }) | null;
}

const TTL_SECONDS = 86400;

/** The builder's side: `step()` at each change of step (the same step again only updates its kind), `end()` at the end. */
export function progressRecorder(redis: Pick<Redis, 'set'>, prefix: string, buildId: string, log: Pick<Logger, 'warn'>, now = () => Date.now()) {
  const state: LiveProgress = { startedAt: now(), done: [], current: null };
  let chain: Promise<unknown> = Promise.resolve();
  // Writes in order, never failing the build: progress is a courtesy to whoever watches.
  const save = () => {
    const json = JSON.stringify(state);
    chain = chain
      .then(() => redis.set(progressKey(prefix, buildId), json, 'EX', TTL_SECONDS))
      .catch((err: unknown) => log.warn({ err, buildId }, 'could not record build progress'));
  };
  const close = (t: number) => {
    if (state.current) state.done.push({ kind: state.current.kind, component: state.current.component, seconds: (t - state.current.since) / 1000 });
    state.current = null;
  };
  save();
  return {
    step(s: LiveStep): void {
      if (state.current?.component === s.component) {
        if (state.current.kind === s.kind) return;
        state.current.kind = s.kind;
      } else {
        const t = now();
        close(t);
        state.current = { ...s, since: t };
      }
      save();
    },
    /** The last step is done; resolves once everything is written. */
    async end(): Promise<void> {
      close(now());
      save();
      await chain;
    },
  };
}

export type ProgressRecorder = ReturnType<typeof progressRecorder>;

export async function readProgress(redis: Pick<Redis, 'get'>, prefix: string, buildId: string): Promise<LiveProgress | null> {
  const raw = await redis.get(progressKey(prefix, buildId));
  return raw ? (JSON.parse(raw) as LiveProgress) : null;
}

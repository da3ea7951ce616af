// Rides out a registry or S3 outage inside one build attempt: the failing call (a blob upload, a mount, a manifest put,
// the engine's push, an S3 read) is tried again with backoff (outage-policy.ts) until it works, the build's time budget
// would run out, or the outage lasts longer than allowed. Each failure and wait goes into the build's log.
import { setTimeout as sleep } from 'node:timers/promises';
import { decideRetry, DEFAULT_OUTAGE_POLICY, seconds, type OutagePolicy } from './outage-policy.ts';

/** Runs `op` (which must be safe to run again: idempotent, its body made anew each time), retrying outages. */
export type OutageRetry = <T>(what: string, op: () => Promise<T>) => Promise<T>;

export interface OutageRetryDeps {
  appendLog: (text: string) => void;
  /** The attempt's signal: a cancel or timeout ends a wait at once. */
  signal: AbortSignal;
  /** When the attempt's timeout fires (ms since the epoch). */
  deadline: number;
  maxOutageSeconds: number;
  policy?: OutagePolicy;
  now?: () => number;
  random?: () => number;
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** No retrying: what callers that have no build budget (or tests of other things) pass. */
export const noOutageRetry: OutageRetry = (_what, op) => op();

export function createOutageRetry(deps: OutageRetryDeps): OutageRetry {
  const policy = deps.policy ?? DEFAULT_OUTAGE_POLICY;
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const wait = deps.wait ?? ((ms, signal) => sleep(ms, undefined, { signal }));
  return async (what, op) => {
    let failures = 0;
    let firstFailureAt = 0;
    let waited = 0;
    for (;;) {
      try {
        const result = await op();
        if (failures > 0) deps.appendLog(`kiln: ${what} succeeded at attempt ${failures + 1}, after ${seconds(waited)} of waiting (${seconds(now() - firstFailureAt)} since the first failure)\n`);
        return result;
      } catch (err) {
        deps.signal.throwIfAborted();
        failures += 1;
        if (failures === 1) firstFailureAt = now();
        const decision = decideRetry(err, { failures, firstFailureAt, now: now(), deadline: deps.deadline, maxOutageMs: deps.maxOutageSeconds * 1000 }, policy, random());
        const message = (err as Error).message;
        if (!decision.retry) {
          // A failure that is no outage goes up untouched, as it always did; only a given-up outage is told here.
          if (decision.outage || failures > 1) deps.appendLog(`kiln: ${what} failed at attempt ${failures}: ${message}; giving up after ${seconds(waited)} of waiting: ${decision.reason}\n`);
          throw err;
        }
        deps.appendLog(`kiln: ${what} failed at attempt ${failures}: ${message}; retrying in ${seconds(decision.waitMs)}\n`);
        await wait(decision.waitMs, deps.signal);
        waited += decision.waitMs;
      }
    }
  };
}

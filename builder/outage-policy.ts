// When a failed call to the registry or S3 is tried again, and after how long: pure decisions (no clock, no sleep, no
// randomness of their own), so the schedule and the budget can be checked with plain values. outage-retry.ts runs them.
import { isTransient } from './build-errors.ts';

export interface OutagePolicy {
  /** The first wait; each next one is `factor` times longer, up to `maxWaitMs`. */
  firstWaitMs: number;
  factor: number;
  /** A registry that comes back is noticed within this long. */
  maxWaitMs: number;
  /** ± this share of each wait, so builders that lost the registry together do not come back in lockstep. */
  jitter: number;
  /** Time a retried call is left to run after a wait: no wait starts unless this much of the budget remains after it. */
  minRunMs: number;
}

export const DEFAULT_OUTAGE_POLICY: OutagePolicy = { firstWaitMs: 1_000, factor: 2, maxWaitMs: 10_000, jitter: 0.2, minRunMs: 1_000 };

/** The wait after the `failures`-th failure in a row (1-based); `random` in [0, 1) places it within the jitter. */
export function backoffMs(failures: number, policy: OutagePolicy, random: number): number {
  const plain = Math.min(policy.maxWaitMs, policy.firstWaitMs * policy.factor ** Math.max(0, failures - 1));
  return Math.round(plain * (1 + policy.jitter * (2 * random - 1)));
}

export interface RetryState {
  /** Failures of this call in a row, counting the one just seen. */
  failures: number;
  /** When the first of them happened (ms since the epoch): the outage as this call saw it. */
  firstFailureAt: number;
  now: number;
  /** When the build's time budget ends (its timeout): no wait reaches past it. */
  deadline: number;
  /** The longest outage one call rides out, whatever budget remains (KILN_OUTAGE_RETRY_SECONDS). */
  maxOutageMs: number;
}

/** `outage`: the failure was one (a retry was possible but the budget said no). */
export type RetryDecision = { retry: true; waitMs: number } | { retry: false; outage: boolean; reason: string };

/**
 * Whether to call again after `err`, and after how long. Only failures that say a service is away (connection refused
 * or reset, a timeout, a 5xx; see isTransient, which looks through wrapped causes) are retried; a refusal (credentials,
 * a missing upload, a bad manifest) is answered the same way every time.
 */
export function decideRetry(err: unknown, state: RetryState, policy: OutagePolicy, random: number): RetryDecision {
  if (!isTransient(err)) return { retry: false, outage: false, reason: 'the failure is not an outage' };
  const waitMs = backoffMs(state.failures, policy, random);
  const resumeAt = state.now + waitMs;
  if (resumeAt + policy.minRunMs > state.deadline) {
    return { retry: false, outage: true, reason: `the build's time budget ends in ${seconds(Math.max(0, state.deadline - state.now))}` };
  }
  if (resumeAt - state.firstFailureAt > state.maxOutageMs) {
    return { retry: false, outage: true, reason: `the outage outlasted KILN_OUTAGE_RETRY_SECONDS (${seconds(state.maxOutageMs)})` };
  }
  return { retry: true, waitMs };
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

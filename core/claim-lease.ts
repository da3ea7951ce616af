// Lease arithmetic for claims on shared work (a layer being built, a combination being verified): a claim is a short
// lease its holder renews while the work runs, so a builder that dies stops renewing and its claim lapses within a
// minute, whatever the work's own time budget. Pure: times come in as values (the database's clock, so builders on
// hosts with different clocks agree on when a lease ran out).

export interface LeasePolicy {
  /** How long a claim stands after its last renewal. */
  seconds: number;
  /** How often the holder renews: several renewals fit in one lease, so one slow or failed renewal loses nothing. */
  renewEverySeconds: number;
  /** After a renewal that failed (the database did not answer), how soon the holder tries again. */
  retryEverySeconds: number;
}

/** A minute, renewed every 15 s (BullMQ's own lock is 30 s, renewed at half of it). */
export const CLAIM_LEASE: LeasePolicy = Object.freeze({ seconds: 60, renewEverySeconds: 15, retryEverySeconds: 2 });

/** Problems with a policy, empty when it is usable: renewals must come often enough to survive a failed one. */
export function leasePolicyProblems(p: LeasePolicy): string[] {
  const problems: string[] = [];
  if (!(p.seconds > 0)) problems.push('the lease must last more than 0 s');
  if (!(p.renewEverySeconds > 0) || p.renewEverySeconds * 2 > p.seconds) problems.push('renewals must come at most every half lease');
  if (!(p.retryEverySeconds > 0) || p.retryEverySeconds > p.renewEverySeconds) problems.push('a failed renewal must be retried sooner than the next renewal');
  return problems;
}

/** When a lease taken or renewed at `now` runs out. */
export function leaseExpiry(now: Date, p: LeasePolicy): Date {
  return new Date(now.getTime() + p.seconds * 1000);
}

/**
 * Whether a claim may be taken over: its lease ran out (its holder stopped renewing: died, or cut off from the
 * database). A claim with no lease recorded counts as run out.
 */
export function isLeaseStale(expiresAt: Date | null, now: Date): boolean {
  return expiresAt === null || expiresAt.getTime() <= now.getTime();
}

/**
 * Milliseconds until the holder's next renewal. `lastRenewedAt`: when the last renewal that succeeded was sent (the
 * holder's own clock); `lastFailed`: whether the latest attempt since then failed.
 */
export function nextRenewalDelayMs(lastRenewedAt: number, now: number, p: LeasePolicy, lastFailed: boolean): number {
  if (lastFailed) return p.retryEverySeconds * 1000;
  return Math.max(0, lastRenewedAt + p.renewEverySeconds * 1000 - now);
}

/**
 * Whether the holder must assume its lease is gone although nobody told it so: no renewal has succeeded for a whole
 * lease (measured from when the last good one was sent, on the holder's own clock: elapsed time, so clock offsets
 * between hosts do not matter). Another builder may have taken the work over; the holder stops before writing.
 */
export function leaseLapsedForHolder(lastRenewedAt: number, now: number, p: LeasePolicy): boolean {
  return now - lastRenewedAt >= p.seconds * 1000;
}

// Holding a claim on shared work (a layer build, a verification) while the work runs: the lease is renewed on its
// cadence, and when the claim is lost — another builder took it over, or no renewal got through for a whole lease —
// the work's signal is aborted, so a slow former holder stops instead of writing over the new holder's result.
import { setTimeout as sleep } from 'node:timers/promises';
import { leaseLapsedForHolder, nextRenewalDelayMs, type LeasePolicy } from '../core/claim-lease.ts';

/** The claim is no longer this builder's: whatever it was doing is the new holder's to finish. */
export class ClaimLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClaimLost';
  }
}

export interface HeldClaim {
  /** Aborted when the work's own signal is, or when the claim is lost (reason: a ClaimLost). */
  signal: AbortSignal;
  lost(): boolean;
  /** Stops renewing (the work ended, one way or another). */
  release(): void;
}

/**
 * Starts renewing a claim just taken. `renew` answers false when the claim is no longer this token's and throws when
 * the database did not answer; `what` names the work in the ClaimLost message.
 */
export function holdClaim(renew: () => Promise<boolean>, policy: LeasePolicy, parent: AbortSignal, what: string): HeldClaim {
  const lostController = new AbortController();
  const stopRenewing = new AbortController();
  let lastRenewedAt = Date.now(); // the claim's own write was the first renewal
  let lastFailed = false;

  const lose = (why: string) => {
    if (!lostController.signal.aborted) lostController.abort(new ClaimLost(`${what}: ${why}`));
    stopRenewing.abort();
  };

  const loop = async () => {
    while (!stopRenewing.signal.aborted) {
      await sleep(nextRenewalDelayMs(lastRenewedAt, Date.now(), policy, lastFailed), undefined, { signal: stopRenewing.signal, ref: false });
      const sentAt = Date.now();
      // A renewal that hangs past the lease counts as failed: by then another builder may hold the claim.
      const left = Math.max(0, lastRenewedAt + policy.seconds * 1000 - sentAt);
      const answer = await Promise.race([
        renew().then(
          (ok) => ({ ok }),
          (err: unknown) => ({ err: err as Error }),
        ),
        sleep(left, { err: new Error('the database did not answer') }, { signal: stopRenewing.signal, ref: false }),
      ]);
      if (stopRenewing.signal.aborted) return;
      if ('ok' in answer) {
        if (!answer.ok) return lose('another builder took the claim over (its lease had lapsed)');
        lastRenewedAt = sentAt;
        lastFailed = false;
      } else {
        lastFailed = true;
        if (leaseLapsedForHolder(lastRenewedAt, Date.now(), policy)) return lose(`the lease could not be renewed for ${policy.seconds} s (${answer.err.message})`);
      }
    }
  };
  loop().catch(() => undefined); // only an abort of the sleeps ends it early

  const release = () => {
    stopRenewing.abort();
    parent.removeEventListener('abort', release);
  };
  parent.addEventListener('abort', release, { once: true });
  return { signal: AbortSignal.any([parent, lostController.signal]), lost: () => lostController.signal.aborted, release };
}

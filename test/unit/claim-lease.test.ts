import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLAIM_LEASE, isLeaseStale, leaseExpiry, leaseLapsedForHolder, leasePolicyProblems, nextRenewalDelayMs, type LeasePolicy } from '../../core/claim-lease.ts';

const t0 = new Date('2026-12-01T10:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

describe('claim leases', () => {
  it('the default lease lasts about a minute and is renewed several times within it', () => {
    assert.deepEqual(leasePolicyProblems(CLAIM_LEASE), []);
    assert.ok(CLAIM_LEASE.seconds <= 90, 'a dead builder blocks a claim for at most about a minute');
    assert.ok(CLAIM_LEASE.seconds / CLAIM_LEASE.renewEverySeconds >= 3, 'two renewals may fail without losing the lease');
  });

  it('refuses policies whose renewals would not keep the lease alive', () => {
    assert.deepEqual(leasePolicyProblems({ seconds: 60, renewEverySeconds: 40, retryEverySeconds: 2 }), ['renewals must come at most every half lease']);
    assert.deepEqual(leasePolicyProblems({ seconds: 60, renewEverySeconds: 15, retryEverySeconds: 20 }), ['a failed renewal must be retried sooner than the next renewal']);
    assert.equal(leasePolicyProblems({ seconds: 0, renewEverySeconds: 0, retryEverySeconds: 0 }).length, 3);
  });

  it('a claim is stale once its lease has run out, not before', () => {
    const expires = leaseExpiry(t0, CLAIM_LEASE);
    assert.deepEqual(expires, at(60));
    assert.equal(isLeaseStale(expires, at(0)), false);
    assert.equal(isLeaseStale(expires, at(59.999)), false);
    assert.equal(isLeaseStale(expires, at(60)), true);
    assert.equal(isLeaseStale(expires, at(4 * 3600)), true);
    assert.equal(isLeaseStale(null, at(0)), true, 'a claim with no lease (written before leases) may be taken over');
  });

  it('a renewal pushes the expiry forward from when it happened', () => {
    // Renewed at 15 s, 30 s, 45 s: still held at 100 s, stale 60 s after the last renewal.
    const renewed = leaseExpiry(at(45), CLAIM_LEASE);
    assert.equal(isLeaseStale(renewed, at(100)), false);
    assert.equal(isLeaseStale(renewed, at(105)), true);
  });

  it('the holder renews on its cadence, and retries soon after a renewal that failed', () => {
    const p: LeasePolicy = CLAIM_LEASE;
    const last = at(0).getTime();
    assert.equal(nextRenewalDelayMs(last, last, p, false), 15_000);
    assert.equal(nextRenewalDelayMs(last, at(10).getTime(), p, false), 5_000);
    assert.equal(nextRenewalDelayMs(last, at(20).getTime(), p, false), 0, 'late (a busy event loop): at once');
    assert.equal(nextRenewalDelayMs(last, at(16).getTime(), p, true), 2_000);
  });

  it('a holder that could not renew for a whole lease gives the work up', () => {
    const last = at(0).getTime();
    assert.equal(leaseLapsedForHolder(last, at(59).getTime(), CLAIM_LEASE), false);
    assert.equal(leaseLapsedForHolder(last, at(60).getTime(), CLAIM_LEASE), true);
  });
});

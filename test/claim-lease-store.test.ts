// Claims as leases on the real databases (PGlite and PostgreSQL): a live claim is respected, a lapsed one is taken
// over by exactly one of the builders racing for it, and a slow former holder learns it lost the claim and cannot
// write over the new holder's result. Short leases here: the policy is a value the store and the holder take.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { ClaimLost, holdClaim } from '../builder/claim-holder.ts';
import type { LeasePolicy } from '../core/claim-lease.ts';
import { createCompositionStore, type ClaimLease, type NewLayer } from '../core/db/composition-store.ts';
import { openDatabase, type Database } from '../core/db/database.ts';
import { waitFor } from './helpers/api-client.ts';

const log = pino({ level: 'silent' });
const SHORT: LeasePolicy = { seconds: 1, renewEverySeconds: 0.25, retryEverySeconds: 0.1 };
const lease = (): ClaimLease => ({ token: randomUUID(), policy: SHORT });

const composition = (key: string) => ({ key, root: 'debian-bookworm', rootImageId: 'sha256:root', componentKey: 'jdk@17+openssl@3', layers: [] });
const layer = (): NewLayer => ({
  id: randomUUID(),
  root: 'debian-bookworm',
  rootImageId: 'sha256:root',
  componentKey: `jdk@17`,
  recipeHash: randomBytes(8).toString('hex'),
  baseKey: '',
  baseLayers: [],
  repository: 'kiln-layers/debian-bookworm',
});
const verdict = (digest: string) => ({ mergeDigest: digest, mergeDiffId: digest, mergeSize: 1, mergeUnpackedBytes: 1, imageRef: 'r:k', imageDigest: digest, verifySeconds: 1 });
const layerResult = (digest: string) => ({
  digest,
  diffId: digest,
  sizeBytes: 1,
  unpackedBytes: 1,
  indexKey: 'k',
  sharedPaths: [],
  whiteouts: [],
  opaqueDirs: [],
  droppedMarkers: 0,
  buildSeconds: 1,
});

async function openDatabases(): Promise<{ name: string; db: Database; drop: () => Promise<void> }[]> {
  const out = [{ name: 'pglite', db: await openDatabase({ pgliteDir: 'memory://', log }), drop: async () => undefined }];
  const admin = process.env.TEST_POSTGRES_URL;
  if (admin) {
    const name = `kiln_lease_${randomBytes(4).toString('hex')}`;
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    await client.query(`CREATE DATABASE ${name}`);
    await client.end();
    const url = new URL(admin);
    url.pathname = `/${name}`;
    out.push({
      name: 'postgres',
      db: await openDatabase({ url: url.toString(), pgliteDir: '', log }),
      drop: async () => {
        const c = new pg.Client({ connectionString: admin });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      },
    });
  }
  return out;
}

const databases = await openDatabases();
after(async () => {
  for (const d of databases) {
    await d.db.close();
    await d.drop();
  }
});

for (const { name, db } of databases) {
  describe(`claim leases on ${name}`, () => {
    const store = createCompositionStore(db.db);

    it('a verification: a live claim is respected, a lapsed one is taken over by exactly one of two racing builders', async () => {
      const key = randomBytes(16).toString('hex');
      const a = lease();
      assert.equal((await store.claimComposition(composition(key), a)).claimed, true);
      assert.equal((await store.claimComposition(composition(key), lease())).claimed, false, 'a live claim stands');
      assert.equal(await store.renewComposition(key, a), true);

      // The holder dies (renews no more): once its lease lapses, of two builders racing for it, one takes it.
      const [b, c] = [lease(), lease()];
      const race = await waitFor(
        'the lapsed claim taken over',
        async () => {
          const got = await Promise.all([store.claimComposition(composition(key), b), store.claimComposition(composition(key), c)]);
          return got.some((g) => g.claimed) ? got : undefined;
        },
        10_000,
        100,
      );
      assert.equal(race.filter((g) => g.claimed).length, 1, 'exactly one builder took the claim over');
      const winner = race[0]!.claimed ? b : c;
      assert.equal((await store.composition(key))!.leaseToken, winner.token);

      // The former holder, merely slow, comes back: it cannot renew, release, or record a verdict.
      assert.equal(await store.renewComposition(key, a), false);
      assert.equal(await store.markVerified(key, a.token, verdict('sha256:old')), false);
      assert.equal(await store.markRefused(key, a.token, 'failed', { error: 'late', conflicts: null }), false);
      await store.releaseComposition(key, a.token);
      assert.equal((await store.composition(key))?.status, 'verifying', 'the new holder keeps its claim');
      assert.equal(await store.markVerified(key, winner.token, verdict('sha256:new')), true);
      const row = (await store.composition(key))!;
      assert.deepEqual([row.status, row.imageDigest, row.leaseToken], ['verified', 'sha256:new', null]);
      assert.equal((await store.claimComposition(composition(key), lease())).claimed, false, 'a verdict stands');
    });

    it('a layer build: the same, and a late former holder cannot mark the layer ended either', async () => {
      const row = layer();
      const a = lease();
      const first = await store.claimLayer(row, a);
      assert.equal(first.claimed, true);
      assert.equal((await store.claimLayer({ ...row, id: randomUUID() }, lease())).claimed, false);
      const [b, c] = [lease(), lease()];
      const race = await waitFor(
        'the lapsed layer claim taken over',
        async () => {
          const got = await Promise.all([store.claimLayer({ ...row, id: randomUUID() }, b), store.claimLayer({ ...row, id: randomUUID() }, c)]);
          return got.some((g) => g.claimed) ? got : undefined;
        },
        10_000,
        100,
      );
      assert.equal(race.filter((g) => g.claimed).length, 1);
      const winner = race[0]!.claimed ? b : c;
      assert.equal(await store.renewLayer(first.layer.id, a), false);
      assert.equal(await store.markLayerEnded(first.layer.id, a.token, 'stale', 'late'), false);
      assert.equal(await store.markLayerReady(first.layer.id, a.token, layerResult('sha256:old')), false);
      assert.equal(await store.markLayerReady(first.layer.id, winner.token, layerResult('sha256:new')), true);
      const done = (await store.layer(first.layer.id))!;
      assert.deepEqual([done.status, done.digest], ['ready', 'sha256:new']);
    });

    it('a holder that renews keeps its claim for many leases; one whose renewals stall learns that it lost it', async () => {
      const key = randomBytes(16).toString('hex');
      const a = lease();
      assert.equal((await store.claimComposition(composition(key), a)).claimed, true);
      // Slow renewals: while `stalled` is set, each renewal waits (a paused process, a database that hangs).
      let stalled: Promise<void> | undefined;
      const held = holdClaim(
        async () => {
          await stalled;
          return store.renewComposition(key, a);
        },
        SHORT,
        new AbortController().signal,
        'the verification',
      );
      try {
        const until = Date.now() + 3 * SHORT.seconds * 1000;
        while (Date.now() < until) {
          assert.equal((await store.claimComposition(composition(key), lease())).claimed, false, 'renewed: nobody takes it');
          await new Promise((r) => setTimeout(r, 100));
        }
        let resume!: () => void;
        stalled = new Promise((r) => (resume = r));
        const b = lease();
        await waitFor('the stalled claim taken over', async () => ((await store.claimComposition(composition(key), b)).claimed ? true : undefined), 10_000, 100);
        resume();
        await waitFor('the former holder told', async () => (held.lost() ? true : undefined), 10_000, 50);
        assert.ok(held.signal.aborted);
        assert.ok(held.signal.reason instanceof ClaimLost, String(held.signal.reason));
        assert.equal((await store.composition(key))!.leaseToken, b.token, 'the new holder keeps the claim');
      } finally {
        held.release();
      }
    });
  });
}

// Queries on composition's records: roots, component layers, and combinations. Building a layer and verifying a
// combination are claimed with a lease (core/claim-lease.ts): taken over when it lapses, and a holder writes its
// result only while its lease token is still the row's.
import { and, desc, eq, inArray, lt, lte, or, sql } from 'drizzle-orm';
import { isLeaseStale, leaseExpiry, type LeasePolicy } from '../claim-lease.ts';
import type { Db } from './database.ts';
import {
  componentLayers,
  compositionRoots,
  compositions,
  type ComponentLayerRow,
  type CompositionRootRow,
  type CompositionRow,
  type CompositionStatus,
  type LayerStatus,
} from './schema/compositions.ts';

/** A claim as its holder knows it: the token that is its and the lease it takes. */
export interface ClaimLease {
  token: string;
  policy: LeasePolicy;
}

/** The database's clock: every builder measures leases by it, so hosts whose clocks differ still agree. */
async function dbNow(db: Db): Promise<Date> {
  const result = (await db.execute(sql`select now() as now`)) as unknown as { rows: { now: string | Date }[] };
  return new Date(result.rows[0]!.now);
}

export type NewLayer = Pick<typeof componentLayers.$inferInsert, 'id' | 'root' | 'rootImageId' | 'componentKey' | 'recipeHash' | 'baseKey' | 'baseLayers' | 'repository'>;

export function createCompositionStore(db: Db) {
  return {
    async root(imageId: string): Promise<CompositionRootRow | undefined> {
      const [row] = await db.select().from(compositionRoots).where(eq(compositionRoots.imageId, imageId));
      return row;
    },
    /** The newest root record of a root name (what the builders compose on now). */
    async latestRoot(root: string): Promise<CompositionRootRow | undefined> {
      const [row] = await db.select().from(compositionRoots).where(eq(compositionRoots.root, root)).orderBy(desc(compositionRoots.createdAt)).limit(1);
      return row;
    },
    async saveRoot(row: typeof compositionRoots.$inferInsert): Promise<void> {
      await db.insert(compositionRoots).values(row).onConflictDoNothing();
    },

    async layer(id: string): Promise<ComponentLayerRow | undefined> {
      const [row] = await db.select().from(componentLayers).where(eq(componentLayers.id, id));
      return row;
    },
    /** The layer of this component recipe on this base, whatever its status. */
    async findLayer(rootImageId: string, componentKey: string, recipeHash: string, baseKey: string): Promise<ComponentLayerRow | undefined> {
      const [row] = await db
        .select()
        .from(componentLayers)
        .where(
          and(
            eq(componentLayers.rootImageId, rootImageId),
            eq(componentLayers.componentKey, componentKey),
            eq(componentLayers.recipeHash, recipeHash),
            eq(componentLayers.baseKey, baseKey),
          ),
        );
      return row;
    },
    /**
     * Claims the building of a layer: inserts it `building`, or takes over a stale one (interrupted, or an older
     * recipe's) or one whose lease lapsed (its builder died). The takeover is one conditional UPDATE, so of two
     * builders that find the same lapsed lease one takes it. Returns the row and whether this call claimed it (false:
     * it is ready, failed, or held by a live claim).
     */
    async claimLayer(row: NewLayer, lease: ClaimLease): Promise<{ layer: ComponentLayerRow; claimed: boolean }> {
      const now = await dbNow(db);
      const held = { leaseToken: lease.token, leaseExpiresAt: leaseExpiry(now, lease.policy), claimedAt: now };
      const [inserted] = await db.insert(componentLayers).values({ ...row, ...held, status: 'building' }).onConflictDoNothing().returning();
      if (inserted) return { layer: inserted, claimed: true };
      const existing = (await this.findLayer(row.rootImageId, row.componentKey, row.recipeHash, row.baseKey ?? ''))!;
      // A failed layer stays failed (its recipe does not install on this base): builds with it install instead.
      const reclaimable = existing.status === 'stale' || (existing.status === 'building' && isLeaseStale(existing.leaseExpiresAt, now));
      if (!reclaimable) return { layer: existing, claimed: false };
      const [again] = await db
        .update(componentLayers)
        .set({ ...held, status: 'building', error: null })
        .where(
          and(
            eq(componentLayers.id, existing.id),
            or(eq(componentLayers.status, 'stale'), and(eq(componentLayers.status, 'building'), lte(componentLayers.leaseExpiresAt, now))),
          ),
        )
        .returning();
      return again ? { layer: again, claimed: true } : { layer: (await this.layer(existing.id))!, claimed: false };
    },
    /** Extends the lease of a layer build; false when the claim is no longer this token's (taken over, ended). */
    async renewLayer(id: string, lease: ClaimLease): Promise<boolean> {
      const now = await dbNow(db);
      const rows = await db
        .update(componentLayers)
        .set({ leaseExpiresAt: leaseExpiry(now, lease.policy) })
        .where(and(eq(componentLayers.id, id), eq(componentLayers.status, 'building'), eq(componentLayers.leaseToken, lease.token)))
        .returning({ id: componentLayers.id });
      return rows.length === 1;
    },
    /** False when the claim is no longer `token`'s: another builder took it over, and its result stands. */
    async markLayerReady(
      id: string,
      token: string,
      v: Pick<ComponentLayerRow, 'digest' | 'diffId' | 'sizeBytes' | 'unpackedBytes' | 'indexKey' | 'sharedPaths' | 'whiteouts' | 'opaqueDirs' | 'droppedMarkers' | 'buildSeconds'>,
    ): Promise<boolean> {
      const rows = await db
        .update(componentLayers)
        .set({ ...v, status: 'ready', readyAt: new Date(), error: null, leaseToken: null })
        .where(and(eq(componentLayers.id, id), eq(componentLayers.status, 'building'), eq(componentLayers.leaseToken, token)))
        .returning({ id: componentLayers.id });
      return rows.length === 1;
    },
    async markLayerEnded(id: string, token: string, status: Extract<LayerStatus, 'failed' | 'stale'>, error: string | null): Promise<boolean> {
      const rows = await db
        .update(componentLayers)
        .set({ status, error, leaseToken: null })
        .where(and(eq(componentLayers.id, id), eq(componentLayers.status, 'building'), eq(componentLayers.leaseToken, token)))
        .returning({ id: componentLayers.id });
      return rows.length === 1;
    },
    async layers(statuses?: LayerStatus[]): Promise<ComponentLayerRow[]> {
      const q = db.select().from(componentLayers);
      return (statuses ? q.where(inArray(componentLayers.status, statuses)) : q).orderBy(desc(componentLayers.createdAt));
    },
    /** Ready layers whose recipe is no longer the catalog's become stale (new recipes make new layers). */
    async retireLayers(ids: string[]): Promise<void> {
      if (ids.length === 0) return;
      await db.update(componentLayers).set({ status: 'stale', retiredAt: new Date() }).where(and(inArray(componentLayers.id, ids), eq(componentLayers.status, 'ready')));
    },
    /** Retired layers past their grace period, whose manifests are still in the registry. */
    async retiredBefore(cutoff: Date): Promise<ComponentLayerRow[]> {
      return db.select().from(componentLayers).where(and(eq(componentLayers.status, 'stale'), lt(componentLayers.retiredAt, cutoff)));
    },
    async markLayerDeleted(id: string): Promise<void> {
      await db.update(componentLayers).set({ status: 'deleted' }).where(eq(componentLayers.id, id));
    },

    async composition(key: string): Promise<CompositionRow | undefined> {
      const [row] = await db.select().from(compositions).where(eq(compositions.key, key));
      return row;
    },
    /**
     * Claims the verification of a combination: inserts it `verifying`, or takes over a verification whose lease
     * lapsed (its builder died) — one conditional UPDATE, so of two builders that find it lapsed one takes it. False
     * when it is verified, refused, or held by a live claim.
     */
    async claimComposition(
      row: Pick<CompositionRow, 'key' | 'root' | 'rootImageId' | 'componentKey' | 'layers'>,
      lease: ClaimLease,
    ): Promise<{ composition: CompositionRow; claimed: boolean }> {
      const now = await dbNow(db);
      const held = { leaseToken: lease.token, leaseExpiresAt: leaseExpiry(now, lease.policy), claimedAt: now };
      const [inserted] = await db.insert(compositions).values({ ...row, ...held, status: 'verifying' }).onConflictDoNothing().returning();
      if (inserted) return { composition: inserted, claimed: true };
      const existing = (await this.composition(row.key))!;
      // A verdict (verified, refused) stands.
      if (existing.status !== 'verifying' || !isLeaseStale(existing.leaseExpiresAt, now)) return { composition: existing, claimed: false };
      const [again] = await db
        .update(compositions)
        .set(held)
        .where(and(eq(compositions.key, row.key), eq(compositions.status, 'verifying'), lte(compositions.leaseExpiresAt, now)))
        .returning();
      return again ? { composition: again, claimed: true } : { composition: (await this.composition(row.key))!, claimed: false };
    },
    /** Extends the lease of a verification; false when the claim is no longer this token's. */
    async renewComposition(key: string, lease: ClaimLease): Promise<boolean> {
      const now = await dbNow(db);
      const rows = await db
        .update(compositions)
        .set({ leaseExpiresAt: leaseExpiry(now, lease.policy) })
        .where(and(eq(compositions.key, key), eq(compositions.status, 'verifying'), eq(compositions.leaseToken, lease.token)))
        .returning({ key: compositions.key });
      return rows.length === 1;
    },
    /** Takes back a claim that did not finish (stopped, retried later) — only while it is still `token`'s. */
    async releaseComposition(key: string, token: string): Promise<void> {
      await db.delete(compositions).where(and(eq(compositions.key, key), eq(compositions.status, 'verifying'), eq(compositions.leaseToken, token)));
    },
    /** False when the claim is no longer `token`'s: another builder took it over, and its verdict stands. */
    async markVerified(
      key: string,
      token: string,
      v: Pick<CompositionRow, 'mergeDigest' | 'mergeDiffId' | 'mergeSize' | 'mergeUnpackedBytes' | 'imageRef' | 'imageDigest' | 'verifySeconds'>,
    ): Promise<boolean> {
      const rows = await db
        .update(compositions)
        .set({ ...v, status: 'verified', verifiedAt: new Date(), error: null, conflicts: null, leaseToken: null })
        .where(and(eq(compositions.key, key), eq(compositions.status, 'verifying'), eq(compositions.leaseToken, token)))
        .returning({ key: compositions.key });
      return rows.length === 1;
    },
    async markRefused(
      key: string,
      token: string,
      status: Extract<CompositionStatus, 'failed' | 'conflict'>,
      v: { error: string; conflicts: string[] | null; verifySeconds?: number },
    ): Promise<boolean> {
      const rows = await db
        .update(compositions)
        .set({ status, error: v.error, conflicts: v.conflicts, leaseToken: null, ...(v.verifySeconds !== undefined ? { verifySeconds: v.verifySeconds } : {}) })
        .where(and(eq(compositions.key, key), eq(compositions.status, 'verifying'), eq(compositions.leaseToken, token)))
        .returning({ key: compositions.key });
      return rows.length === 1;
    },
    async hit(key: string): Promise<void> {
      await db.update(compositions).set({ hits: sql`${compositions.hits} + 1` }).where(eq(compositions.key, key));
    },
    async compositions(statuses?: CompositionStatus[]): Promise<CompositionRow[]> {
      const q = db.select().from(compositions);
      return (statuses ? q.where(inArray(compositions.status, statuses)) : q).orderBy(desc(compositions.createdAt));
    },
  };
}

export type CompositionStore = ReturnType<typeof createCompositionStore>;

// Queries on composition's records: roots, component layers, and combinations.
import { and, desc, eq, inArray, lt, or, sql } from 'drizzle-orm';
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
     * Claims the building of a layer: inserts it `building`, or takes back a stale one (interrupted, or an older
     * recipe's) or one whose builder died (claimed before `staleClaimBefore`). Returns the row and whether this call
     * claimed it (false: it is ready, failed, or being built by someone else).
     */
    async claimLayer(row: NewLayer, staleClaimBefore: Date): Promise<{ layer: ComponentLayerRow; claimed: boolean }> {
      const [inserted] = await db.insert(componentLayers).values({ ...row, status: 'building' }).onConflictDoNothing().returning();
      if (inserted) return { layer: inserted, claimed: true };
      const existing = (await this.findLayer(row.rootImageId, row.componentKey, row.recipeHash, row.baseKey ?? ''))!;
      // A failed layer stays failed (its recipe does not install on this base): builds with it install instead.
      const reclaimable = existing.status === 'stale' || (existing.status === 'building' && existing.claimedAt < staleClaimBefore);
      if (!reclaimable) return { layer: existing, claimed: false };
      const [again] = await db
        .update(componentLayers)
        .set({ status: 'building', error: null, claimedAt: new Date() })
        .where(
          and(
            eq(componentLayers.id, existing.id),
            or(eq(componentLayers.status, 'stale'), and(eq(componentLayers.status, 'building'), lt(componentLayers.claimedAt, staleClaimBefore))),
          ),
        )
        .returning();
      return again ? { layer: again, claimed: true } : { layer: (await this.layer(existing.id))!, claimed: false };
    },
    async markLayerReady(
      id: string,
      v: Pick<ComponentLayerRow, 'digest' | 'diffId' | 'sizeBytes' | 'unpackedBytes' | 'indexKey' | 'sharedPaths' | 'whiteouts' | 'opaqueDirs' | 'droppedMarkers' | 'buildSeconds'>,
    ): Promise<void> {
      await db.update(componentLayers).set({ ...v, status: 'ready', readyAt: new Date(), error: null }).where(eq(componentLayers.id, id));
    },
    async markLayerEnded(id: string, status: Extract<LayerStatus, 'failed' | 'stale'>, error: string | null): Promise<boolean> {
      const rows = await db.update(componentLayers).set({ status, error }).where(and(eq(componentLayers.id, id), eq(componentLayers.status, 'building'))).returning({ id: componentLayers.id });
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
    /** Claims the verification of a combination; false when it is already verified, refused or being verified. */
    async claimComposition(
      row: Pick<CompositionRow, 'key' | 'root' | 'rootImageId' | 'componentKey' | 'layers'>,
      staleClaimBefore: Date,
    ): Promise<{ composition: CompositionRow; claimed: boolean }> {
      const [inserted] = await db.insert(compositions).values({ ...row, status: 'verifying' }).onConflictDoNothing().returning();
      if (inserted) return { composition: inserted, claimed: true };
      const existing = (await this.composition(row.key))!;
      // A verification whose builder died long ago may be taken over; a verdict (verified, refused) stands.
      if (existing.status !== 'verifying' || existing.claimedAt >= staleClaimBefore) return { composition: existing, claimed: false };
      const [again] = await db
        .update(compositions)
        .set({ claimedAt: new Date() })
        .where(and(eq(compositions.key, row.key), eq(compositions.status, 'verifying'), lt(compositions.claimedAt, staleClaimBefore)))
        .returning();
      return again ? { composition: again, claimed: true } : { composition: (await this.composition(row.key))!, claimed: false };
    },
    /** Takes back a claim that did not finish (stopped, retried later). */
    async releaseComposition(key: string): Promise<void> {
      await db.delete(compositions).where(and(eq(compositions.key, key), eq(compositions.status, 'verifying')));
    },
    async markVerified(
      key: string,
      v: Pick<CompositionRow, 'mergeDigest' | 'mergeDiffId' | 'mergeSize' | 'mergeUnpackedBytes' | 'imageRef' | 'imageDigest' | 'verifySeconds'>,
    ): Promise<void> {
      await db.update(compositions).set({ ...v, status: 'verified', verifiedAt: new Date(), error: null, conflicts: null }).where(eq(compositions.key, key));
    },
    async markRefused(key: string, status: Extract<CompositionStatus, 'failed' | 'conflict'>, v: { error: string; conflicts: string[] | null; verifySeconds?: number }): Promise<void> {
      await db
        .update(compositions)
        .set({ status, error: v.error, conflicts: v.conflicts, ...(v.verifySeconds !== undefined ? { verifySeconds: v.verifySeconds } : {}) })
        .where(eq(compositions.key, key));
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

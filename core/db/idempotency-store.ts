// Idempotency-Key records: a key claimed together with the build it created, in one transaction, so two concurrent
// requests with one key make one build.
import { and, eq } from 'drizzle-orm';
import { createBuildStore } from './build-store.ts';
import type { Db } from './database.ts';
import type { BuildRow, builds } from './schema/builds.ts';
import { idempotencyKeys, type IdempotencyKeyRow } from './schema/webhooks.ts';

export interface IdempotencyClaim {
  project: string;
  key: string;
  requestHash: string;
}

/** Thrown inside the transaction to roll the build back when another request holds the key. */
class KeyTaken extends Error {}

export function createIdempotencyStore(db: Db) {
  const find = async (project: string, key: string): Promise<IdempotencyKeyRow | undefined> => {
    const [row] = await db.select().from(idempotencyKeys).where(and(eq(idempotencyKeys.project, project), eq(idempotencyKeys.key, key)));
    return row;
  };

  return {
    find,
    /**
     * Inserts the build and claims the key for it, atomically. If the key is already claimed (also by a request that
     * committed while this one waited on the key's row lock), nothing is inserted and the standing claim is returned.
     */
    async insertBuildOnce(claim: IdempotencyClaim, build: typeof builds.$inferInsert): Promise<{ build: BuildRow } | { existing: IdempotencyKeyRow }> {
      try {
        const inserted = await db.transaction(async (tx) => {
          const row = await createBuildStore(tx as unknown as Db).insert(build);
          const claimed = await tx
            .insert(idempotencyKeys)
            .values({ ...claim, buildId: row.id })
            .onConflictDoNothing()
            .returning({ key: idempotencyKeys.key });
          if (claimed.length === 0) throw new KeyTaken();
          return row;
        });
        return { build: inserted };
      } catch (err) {
        if (!(err instanceof KeyTaken)) throw err;
        const existing = await find(claim.project, claim.key);
        if (!existing) throw new Error(`idempotency key ${claim.key} vanished after a conflict`);
        return { existing };
      }
    },
    /** Frees a key whose build could not be queued, so the client's retry with the same key tries again. */
    async release(project: string, key: string): Promise<void> {
      await db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.project, project), eq(idempotencyKeys.key, key)));
    },
  };
}

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;

// Queries on uploads.
import { and, eq } from 'drizzle-orm';
import type { Db } from './database.ts';
import { uploads, type UploadRow } from './schema/uploads.ts';

export function createUploadStore(db: Db) {
  return {
    async get(project: string, id: string): Promise<UploadRow | undefined> {
      const [row] = await db.select().from(uploads).where(and(eq(uploads.project, project), eq(uploads.id, id)));
      return row;
    },
    /**
     * Inserts unless the project already has these bytes; returns the row that stands (ours or the earlier one) and
     * whether ours was inserted, so the caller can drop its now-redundant object.
     */
    async insertOrGetExisting(row: typeof uploads.$inferInsert): Promise<{ upload: UploadRow; inserted: boolean }> {
      const [inserted] = await db.insert(uploads).values(row).onConflictDoNothing().returning();
      if (inserted) return { upload: inserted, inserted: true };
      const [existing] = await db
        .select()
        .from(uploads)
        .where(and(eq(uploads.project, row.project), eq(uploads.sha256, row.sha256)));
      if (!existing) throw new Error(`upload ${row.sha256} vanished between insert and select`);
      return { upload: existing, inserted: false };
    },
  };
}

export type UploadStore = ReturnType<typeof createUploadStore>;

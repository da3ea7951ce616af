// Queries on uploads.
import { and, desc, eq } from 'drizzle-orm';
import type { Db } from './database.ts';
import { uploads, type UploadRow } from './schema/uploads.ts';

export function createUploadStore(db: Db) {
  return {
    async get(project: string, id: string): Promise<UploadRow | undefined> {
      const [row] = await db.select().from(uploads).where(and(eq(uploads.project, project), eq(uploads.id, id)));
      return row;
    },
    /** A project's uploads, newest first. */
    async list(project: string, opts: { limit: number }): Promise<UploadRow[]> {
      return db.select().from(uploads).where(eq(uploads.project, project)).orderBy(desc(uploads.createdAt), desc(uploads.id)).limit(opts.limit);
    },
    /**
     * Inserts unless the project already has these bytes as this kind; returns the row that stands (ours or the earlier one) and
     * whether ours was inserted, so the caller can drop its now-redundant object.
     */
    async insertOrGetExisting(row: typeof uploads.$inferInsert): Promise<{ upload: UploadRow; inserted: boolean }> {
      const [inserted] = await db.insert(uploads).values(row).onConflictDoNothing().returning();
      if (inserted) return { upload: inserted, inserted: true };
      const [existing] = await db
        .select()
        .from(uploads)
        .where(and(eq(uploads.project, row.project), eq(uploads.sha256, row.sha256), eq(uploads.kind, row.kind ?? 'file')));
      if (!existing) throw new Error(`upload ${row.sha256} vanished between insert and select`);
      return { upload: existing, inserted: false };
    },
  };
}

export type UploadStore = ReturnType<typeof createUploadStore>;

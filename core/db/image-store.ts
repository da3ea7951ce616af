// Queries on the image catalog and the retention rules: what kiln pushed for each project, filtered and paged.
import { and, arrayContains, desc, eq, gte, lt, ne, or, type SQL } from 'drizzle-orm';
import type { Db } from './database.ts';
import { images, retentionRules, type ImageRow, type ImageStatus, type RetentionRuleRow } from './schema/images.ts';

export interface ImageFilters {
  repository?: string;
  tag?: string;
  /** `name` (any version) or `name@version`. */
  component?: string;
  templateId?: string;
  uploadSha256?: string;
  status?: ImageStatus;
  /** pushedAt ≥ since and < until. */
  since?: Date;
  until?: Date;
}

/** Where the previous page ended: the last item's push time and id (newest first, ties by id). */
export interface PageCursor {
  pushedAt: Date;
  id: string;
}

export type NewImage = Omit<typeof images.$inferInsert, 'status' | 'deletedAt' | 'deletedBy'>;

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/**
 * Records an image a build pushed, in the build's own transaction (so a succeeded build always has its image), and
 * marks earlier images of the same tag superseded: the tag points at this one now.
 */
export async function recordPushedImage(tx: Tx | Db, row: NewImage): Promise<void> {
  await tx
    .update(images)
    .set({ status: 'superseded' })
    .where(and(eq(images.project, row.project), eq(images.repository, row.repository), eq(images.tag, row.tag), eq(images.status, 'current')));
  await tx.insert(images).values({ ...row, status: 'current' });
}

export function createImageStore(db: Db) {
  return {
    /** A project's images, newest first, after `cursor`; one more than `limit` is read to know whether a page follows. */
    async list(project: string, filters: ImageFilters, limit: number, cursor?: PageCursor): Promise<{ items: ImageRow[]; more: boolean }> {
      const where: (SQL | undefined)[] = [eq(images.project, project)];
      if (filters.repository) where.push(eq(images.repository, filters.repository));
      if (filters.tag) where.push(eq(images.tag, filters.tag));
      if (filters.component) {
        where.push(filters.component.includes('@') ? arrayContains(images.components, [filters.component]) : arrayContains(images.componentNames, [filters.component]));
      }
      if (filters.templateId) where.push(eq(images.templateId, filters.templateId));
      if (filters.uploadSha256) where.push(eq(images.uploadSha256, filters.uploadSha256));
      if (filters.status) where.push(eq(images.status, filters.status));
      if (filters.since) where.push(gte(images.pushedAt, filters.since));
      if (filters.until) where.push(lt(images.pushedAt, filters.until));
      if (cursor) where.push(or(lt(images.pushedAt, cursor.pushedAt), and(eq(images.pushedAt, cursor.pushedAt), lt(images.id, cursor.id))));
      const rows = await db
        .select()
        .from(images)
        .where(and(...where))
        .orderBy(desc(images.pushedAt), desc(images.id))
        .limit(limit + 1);
      return { items: rows.slice(0, limit), more: rows.length > limit };
    },
    async get(project: string, id: string): Promise<ImageRow | undefined> {
      const [row] = await db.select().from(images).where(and(eq(images.project, project), eq(images.id, id)));
      return row;
    },
    /** The project's images whose tag points at them: what a retention rule reasons about. */
    async current(project: string): Promise<ImageRow[]> {
      return db.select().from(images).where(and(eq(images.project, project), eq(images.status, 'current'))).orderBy(desc(images.pushedAt), desc(images.id));
    },
    /** Marks an image deleted (once); returns the row as it is now. */
    async markDeleted(id: string, by: 'user' | 'retention'): Promise<ImageRow | undefined> {
      const [row] = await db
        .update(images)
        .set({ status: 'deleted', deletedAt: new Date(), deletedBy: by })
        .where(and(eq(images.id, id), ne(images.status, 'deleted')))
        .returning();
      return row ?? (await db.select().from(images).where(eq(images.id, id)))[0];
    },

    async rule(project: string): Promise<RetentionRuleRow | undefined> {
      const [row] = await db.select().from(retentionRules).where(eq(retentionRules.project, project));
      return row;
    },
    async rules(): Promise<RetentionRuleRow[]> {
      return db.select().from(retentionRules);
    },
    async putRule(project: string, rule: { keepNewest: number | null; keepDays: number | null }): Promise<RetentionRuleRow> {
      const [row] = await db
        .insert(retentionRules)
        .values({ project, ...rule, updatedAt: new Date() })
        .onConflictDoUpdate({ target: retentionRules.project, set: { ...rule, updatedAt: new Date() } })
        .returning();
      return row!;
    },
    async deleteRule(project: string): Promise<boolean> {
      return (await db.delete(retentionRules).where(eq(retentionRules.project, project)).returning({ project: retentionRules.project })).length === 1;
    },
    async recordRun(project: string, result: unknown): Promise<void> {
      await db.update(retentionRules).set({ lastRunAt: new Date(), lastResult: result }).where(eq(retentionRules.project, project));
    },
  };
}

export type ImageStore = ReturnType<typeof createImageStore>;

// Queries on webhooks (saved build definitions a signed push triggers).
import { and, asc, eq } from 'drizzle-orm';
import type { Db } from './database.ts';
import { webhooks, type WebhookRow } from './schema/webhooks.ts';

export function createWebhookStore(db: Db) {
  return {
    async insert(row: typeof webhooks.$inferInsert): Promise<WebhookRow> {
      const [created] = await db.insert(webhooks).values(row).returning();
      return created!;
    },
    /** By id alone: a delivery proves who it is by its signature, not by a project's token. */
    async get(id: string): Promise<WebhookRow | undefined> {
      const [row] = await db.select().from(webhooks).where(eq(webhooks.id, id));
      return row;
    },
    async getInProject(project: string, id: string): Promise<WebhookRow | undefined> {
      const [row] = await db.select().from(webhooks).where(and(eq(webhooks.project, project), eq(webhooks.id, id)));
      return row;
    },
    async list(project: string): Promise<WebhookRow[]> {
      return db.select().from(webhooks).where(eq(webhooks.project, project)).orderBy(asc(webhooks.createdAt));
    },
    async delete(project: string, id: string): Promise<boolean> {
      const rows = await db.delete(webhooks).where(and(eq(webhooks.project, project), eq(webhooks.id, id))).returning({ id: webhooks.id });
      return rows.length === 1;
    },
  };
}

export type WebhookStore = ReturnType<typeof createWebhookStore>;

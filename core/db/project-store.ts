// Queries on projects and API tokens. Tokens are looked up by hash only: the clear token never reaches the database.
import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Db } from './database.ts';
import { apiTokens, projects, type ApiTokenRow, type ProjectRow } from './schema/projects.ts';

export function createProjectStore(db: Db) {
  return {
    /** Inserts; false when the name is taken. */
    async insertProject(row: typeof projects.$inferInsert): Promise<ProjectRow | undefined> {
      const [created] = await db.insert(projects).values(row).onConflictDoNothing().returning();
      return created;
    },
    async getProject(name: string): Promise<ProjectRow | undefined> {
      const [row] = await db.select().from(projects).where(eq(projects.name, name));
      return row;
    },
    async listProjects(): Promise<ProjectRow[]> {
      return db.select().from(projects).orderBy(asc(projects.name));
    },
    async insertToken(row: typeof apiTokens.$inferInsert): Promise<ApiTokenRow> {
      const [created] = await db.insert(apiTokens).values(row).returning();
      return created!;
    },
    async tokenByHash(tokenHash: string): Promise<ApiTokenRow | undefined> {
      const [row] = await db.select().from(apiTokens).where(eq(apiTokens.tokenHash, tokenHash));
      return row;
    },
    async getToken(id: string): Promise<ApiTokenRow | undefined> {
      const [row] = await db.select().from(apiTokens).where(eq(apiTokens.id, id));
      return row;
    },
    /** `project` undefined: every token; null: admin tokens; a name: that project's. */
    async listTokens(project?: string | null): Promise<ApiTokenRow[]> {
      const where = project === undefined ? undefined : project === null ? isNull(apiTokens.project) : eq(apiTokens.project, project);
      return db.select().from(apiTokens).where(where).orderBy(asc(apiTokens.createdAt));
    },
    /** Marks a token revoked (once: a second revoke keeps the first time); returns the row, or undefined if unknown. */
    async revokeToken(id: string): Promise<ApiTokenRow | undefined> {
      const [revoked] = await db
        .update(apiTokens)
        .set({ revokedAt: new Date() })
        .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
        .returning();
      return revoked ?? (await this.getToken(id));
    },
  };
}

export type ProjectStore = ReturnType<typeof createProjectStore>;

// The aggregate reads behind /metrics: kept in the database, so every api process reports the same numbers and they
// survive restarts (the builds themselves finish in builder processes the api never sees).
import { and, asc, count, isNotNull, sql, sum } from 'drizzle-orm';
import type { Db } from './database.ts';
import { builds, type BuildStatus } from './schema/builds.ts';
import { templates, type TemplateStatus } from './schema/templates.ts';

export interface FinishedBuild {
  id: string;
  status: BuildStatus;
  seconds: number;
  /** finished_at in whole milliseconds since the epoch: the cursor of the next read. */
  finishedMs: number;
}

// Compared at millisecond precision, the precision the cursor is kept in, so a row is never read twice or skipped.
const finishedMs = sql<string>`floor(extract(epoch from ${builds.finishedAt}) * 1000)::bigint`;

export function createMetricsStore(db: Db) {
  return {
    async buildsByStatus(): Promise<{ status: BuildStatus; count: number }[]> {
      return db.select({ status: builds.status, count: count() }).from(builds).groupBy(builds.status);
    },

    /** Builds that ran and ended after the cursor (finished_ms, id), in that order. */
    async finishedAfter(cursor: { finishedMs: number; id: string }, limit: number): Promise<FinishedBuild[]> {
      const rows = await db
        .select({
          id: builds.id,
          status: builds.status,
          finishedMs,
          seconds: sql<string>`extract(epoch from (${builds.finishedAt} - ${builds.startedAt}))`,
        })
        .from(builds)
        .where(and(isNotNull(builds.finishedAt), isNotNull(builds.startedAt), sql`(${finishedMs}, ${builds.id}) > (${cursor.finishedMs}, ${cursor.id}::uuid)`))
        .orderBy(asc(finishedMs), asc(builds.id))
        .limit(limit);
      return rows.map((r) => ({ id: r.id, status: r.status, finishedMs: Number(r.finishedMs), seconds: Number(r.seconds) }));
    },

    async templateTotals(): Promise<{ status: TemplateStatus; count: number; hits: number; secondsSaved: number }[]> {
      const rows = await db
        .select({ status: templates.status, count: count(), hits: sum(templates.hits), secondsSaved: sum(templates.secondsSaved) })
        .from(templates)
        .groupBy(templates.status);
      return rows.map((r) => ({ status: r.status, count: r.count, hits: Number(r.hits ?? 0), secondsSaved: Number(r.secondsSaved ?? 0) }));
    },
  };
}

export type MetricsStore = ReturnType<typeof createMetricsStore>;

// Queries on templates, analyzer runs, and the build history the analyzer mines.
import { and, desc, eq, gte, inArray, isNotNull, isNull, lte, or, sql } from 'drizzle-orm';
import { unionAll } from 'drizzle-orm/pg-core';
import type { PlannedComponent } from '../build-types.ts';
import type { Db } from './database.ts';
import { builds, buildSteps } from './schema/builds.ts';
import { analyzerRuns, templates, templateSteps, type TemplateRow, type TemplateStatus } from './schema/templates.ts';
import type { ReadyTemplate } from '../templates/base-choice.ts';

/** One UTC day of succeeded builds, split by whether a template was their base (durations: started → finished). */
export interface DailyBuildStats {
  day: string;
  builds: number;
  buildsWithTemplate: number;
  secondsSaved: number;
  /** Builds assembled from prebuilt layers, and the install seconds they did not spend. */
  buildsComposed: number;
  secondsSavedComposed: number;
  medianSecondsComposed: number | null;
  /** Install seconds the engine's layer cache spared that day's builds (every route). */
  secondsSavedCache: number;
  medianSecondsWithTemplate: number | null;
  medianSecondsWithout: number | null;
  meanSecondsWithTemplate: number | null;
  meanSecondsWithout: number | null;
}

/** `count` succeeded builds of one root and component set that finished in the hour around `t` (epoch seconds). */
export interface DemandHour {
  root: string;
  components: string[];
  t: number;
  count: number;
}

export function createTemplateStore(db: Db) {
  return {
    async list(statuses?: TemplateStatus[]): Promise<TemplateRow[]> {
      const q = db.select().from(templates);
      return (statuses ? q.where(inArray(templates.status, statuses)) : q).orderBy(desc(templates.createdAt));
    },
    /** Templates a build may start FROM now: ready, with the digest they were pushed under. */
    async ready(): Promise<ReadyTemplate[]> {
      const rows = await db.select().from(templates).where(and(eq(templates.status, 'ready'), isNotNull(templates.digest)));
      return rows.map((t) => ({ id: t.id, root: t.root, imageRef: t.imageRef, digest: t.digest!, components: t.components, sizeBytes: t.sizeBytes }));
    },
    async get(id: string): Promise<TemplateRow | undefined> {
      const [row] = await db.select().from(templates).where(eq(templates.id, id));
      return row;
    },
    async insertBuilding(row: { id: string; root: string; componentKey: string; components: PlannedComponent[]; imageRef: string }): Promise<void> {
      await db.insert(templates).values({ ...row, status: 'building' });
    },
    async markReady(
      id: string,
      { steps, ...v }: { digest: string; sizeBytes: number; buildSeconds: number; parentId: string | null; steps: Omit<typeof templateSteps.$inferInsert, 'templateId'>[] },
    ): Promise<void> {
      await db.transaction(async (tx) => {
        await tx.update(templates).set({ ...v, status: 'ready', readyAt: new Date(), error: null }).where(eq(templates.id, id));
        await tx.delete(templateSteps).where(eq(templateSteps.templateId, id));
        const own = steps.filter((s) => s.component !== 'binary');
        if (own.length > 0) await tx.insert(templateSteps).values(own.map((s) => ({ ...s, templateId: id })));
      });
    },
    /** A template build ended without an image (failed, or canceled by an admin); false if it was not building. */
    async markEndedUnbuilt(id: string, status: 'failed' | 'canceled', error: string): Promise<boolean> {
      const rows = await db
        .update(templates)
        .set({ status, error, retiredAt: new Date() })
        .where(and(eq(templates.id, id), eq(templates.status, 'building')))
        .returning({ id: templates.id });
      return rows.length === 1;
    },
    /** Stale or retired templates are never chosen again; their images go after a grace period. */
    async markEnded(ids: string[], status: 'stale' | 'retired'): Promise<void> {
      if (ids.length === 0) return;
      await db.update(templates).set({ status, retiredAt: new Date() }).where(inArray(templates.id, ids));
    },
    async endedWithImageBefore(cutoff: Date): Promise<TemplateRow[]> {
      return db
        .select()
        .from(templates)
        .where(and(inArray(templates.status, ['stale', 'retired']), lte(templates.retiredAt, cutoff), isNull(templates.imageDeletedAt), isNotNull(templates.digest)));
    },
    async markImageDeleted(id: string): Promise<void> {
      await db.update(templates).set({ imageDeletedAt: new Date() }).where(eq(templates.id, id));
    },

    /**
     * Succeeded builds since `since`, folded in SQL into one row per root, component set and hour with its build count,
     * so that a big installation's window reaches the analyzer as tens of thousands of rows, not half a million.
     */
    async demand(since: Date): Promise<DemandHour[]> {
      const combo = sql<string>`(select coalesce(string_agg(c->>'key', '+' order by c->>'key'), '') from jsonb_array_elements(${builds.plan}->'components') c)`;
      const hour = sql<number>`floor(extract(epoch from ${builds.finishedAt}) / 3600)`;
      const rows = await db
        .select({
          root: sql<string>`${builds.plan}->'root'->>'name'`.as('root'),
          combo: combo.as('combo'),
          hour: sql<number>`${hour}::float8`.as('hour'),
          count: sql<number>`count(*)::int`,
          last: sql<number>`max(extract(epoch from ${builds.finishedAt}))::float8`,
        })
        .from(builds)
        .where(and(eq(builds.status, 'succeeded'), gte(builds.finishedAt, since)))
        .groupBy(sql`1`, sql`2`, sql`3`);
      // The middle of the hour stands for its builds — but never a time after the last of them: an analysis now must
      // count the builds of the hour that is still running (they happened, however recently).
      return rows.map((r) => ({ root: r.root, components: r.combo ? r.combo.split('+') : [], t: Math.min((Number(r.hour) + 0.5) * 3600, Number(r.last)), count: Number(r.count) }));
    },
    /** Real install times: the most recent uncached runs of each component, in builds and template builds, newest first. */
    async costSamples(perComponent: number): Promise<{ component: string; seconds: number }[]> {
      const fromBuilds = db
        .select({ component: buildSteps.component, seconds: buildSteps.seconds, at: sql<Date>`${builds.finishedAt}`.as('at') })
        .from(buildSteps)
        .innerJoin(builds, eq(builds.id, buildSteps.buildId))
        // Only steps that really installed (a verification or an assembly is not an install of anything).
        .where(and(eq(buildSteps.cached, false), sql`${buildSteps.component} <> 'binary'`, or(isNull(buildSteps.kind), eq(buildSteps.kind, 'install'))));
      const fromTemplates = db
        .select({ component: templateSteps.component, seconds: templateSteps.seconds, at: sql<Date>`${templateSteps.finishedAt}`.as('at') })
        .from(templateSteps)
        .where(eq(templateSteps.cached, false));
      const all = unionAll(fromBuilds, fromTemplates).as('all_steps');
      const ranked = db
        .select({
          component: all.component,
          seconds: all.seconds,
          n: sql<number>`row_number() over (partition by ${all.component} order by ${all.at} desc nulls last)`.as('n'),
        })
        .from(all)
        .as('ranked');
      return db.select({ component: ranked.component, seconds: ranked.seconds }).from(ranked).where(lte(ranked.n, perComponent));
    },

    /** Succeeded builds finished since `since`, with what templates did for them. */
    async finishedBuilds(since: Date) {
      return db
        .select({
          templateId: builds.templateId,
          secondsSaved: builds.secondsSaved,
          secondsSavedEstimated: builds.secondsSavedEstimated,
          composed: sql<boolean>`(${builds.plan}->'base'->>'kind' = 'composed')`,
          secondsSavedCache: builds.secondsSavedCache,
          secondsSavedCacheEstimated: builds.secondsSavedCacheEstimated,
          components: sql<string[]>`(select coalesce(jsonb_agg(c->>'key'), '[]'::jsonb) from jsonb_array_elements(${builds.plan}->'components') c)`,
          startedAt: builds.startedAt,
          finishedAt: builds.finishedAt,
        })
        .from(builds)
        .where(and(eq(builds.status, 'succeeded'), gte(builds.finishedAt, since)));
    },

    /** The last `days` UTC days (today included), oldest first, every day present even without builds. */
    async dailyBuildStats(days: number, now = new Date()): Promise<DailyBuildStats[]> {
      const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
      const first = new Date(today - (days - 1) * 86400_000);
      const seconds = sql`extract(epoch from (${builds.finishedAt} - ${builds.startedAt}))`;
      const rows = await db
        .select({
          day: sql<string>`to_char(${builds.finishedAt} at time zone 'UTC', 'YYYY-MM-DD')`.as('day'),
          // How the build was made: FROM a template, composed from layers, or installed (the "without" of the charts).
          route: sql<string>`(case when ${builds.templateId} is not null then 'template' when ${builds.plan}->'base'->>'kind' = 'composed' then 'composed' else 'install' end)`.as('route'),
          builds: sql<number>`count(*)::int`,
          secondsSaved: sql<number>`coalesce(sum(${builds.secondsSaved}), 0)::float8`,
          secondsSavedCache: sql<number>`coalesce(sum(${builds.secondsSavedCache}), 0)::float8`,
          median: sql<number | null>`(percentile_cont(0.5) within group (order by ${seconds}) filter (where ${builds.startedAt} is not null))::float8`,
          mean: sql<number | null>`(avg(${seconds}) filter (where ${builds.startedAt} is not null))::float8`,
        })
        .from(builds)
        .where(and(eq(builds.status, 'succeeded'), gte(builds.finishedAt, first)))
        .groupBy(sql`1`, sql`2`);
      const out: DailyBuildStats[] = [];
      for (let t = first.getTime(); t <= today; t += 86400_000) {
        const day = new Date(t).toISOString().slice(0, 10);
        const withT = rows.find((r) => r.day === day && r.route === 'template');
        const composed = rows.find((r) => r.day === day && r.route === 'composed');
        const without = rows.find((r) => r.day === day && r.route === 'install');
        const num = (v: number | string | null | undefined) => (v === null || v === undefined ? null : Number(v));
        out.push({
          day,
          builds: (withT?.builds ?? 0) + (composed?.builds ?? 0) + (without?.builds ?? 0),
          buildsWithTemplate: withT?.builds ?? 0,
          secondsSaved: num(withT?.secondsSaved) ?? 0,
          buildsComposed: composed?.builds ?? 0,
          secondsSavedComposed: num(composed?.secondsSaved) ?? 0,
          medianSecondsComposed: num(composed?.median),
          secondsSavedCache: [withT, composed, without].reduce((n, r) => n + (num(r?.secondsSavedCache) ?? 0), 0),
          medianSecondsWithTemplate: num(withT?.median),
          medianSecondsWithout: num(without?.median),
          meanSecondsWithTemplate: num(withT?.mean),
          meanSecondsWithout: num(without?.mean),
        });
      }
      return out;
    },

    async startRun(id: string, trigger: string): Promise<void> {
      await db.insert(analyzerRuns).values({ id, trigger });
    },
    async finishRun(id: string, decisions: unknown, summary: string): Promise<void> {
      await db.update(analyzerRuns).set({ decisions, summary, finishedAt: new Date() }).where(eq(analyzerRuns.id, id));
    },
    async runs(limit: number) {
      return db.select().from(analyzerRuns).orderBy(desc(analyzerRuns.startedAt)).limit(limit);
    },
    async run(id: string) {
      const [row] = await db.select().from(analyzerRuns).where(eq(analyzerRuns.id, id));
      return row;
    },
  };
}

export type TemplateStore = ReturnType<typeof createTemplateStore>;

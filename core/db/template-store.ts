// Queries on templates, analyzer runs, and the build history the analyzer mines.
import { and, desc, eq, gte, inArray, isNotNull, isNull, lte, or, sql } from 'drizzle-orm';
import { unionAll } from 'drizzle-orm/pg-core';
import type { PlannedComponent } from '../build-types.ts';
import type { Db } from './database.ts';
import { builds, buildSteps } from './schema/builds.ts';
import { analyzerRuns, templates, templateSteps, type TemplateRow, type TemplateStatus } from './schema/templates.ts';
import type { ReadyTemplate } from '../templates/base-choice.ts';
import type { DemandHours } from '../templates/demand-hours.ts';

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
     * Succeeded builds since `since`, folded in SQL into one row per root, component set, what the layer cache served
     * and what a template held, with that combination's hours packed in one bytea (per hour, two big-endian doubles:
     * its time and its build count). A big installation's window is a few hundred thousand hours of tens of thousands
     * of combinations: as that many row objects, the driver and the conversion would hold this event loop for seconds
     * (long enough for the analyzer's job to lose its lock); as tens of thousands of rows with packed bytes, they do not.
     */
    async demand(since: Date): Promise<DemandHours> {
      const keys = (list: ReturnType<typeof sql>) => sql<string>`(select coalesce(string_agg(k, '+' order by k), '') from ${list} k)`;
      const combo = keys(sql`jsonb_array_elements_text(jsonb_path_query_array(${builds.plan}, '$.components[*].key'))`);
      // What the engine's layer cache served (steps it reports cached), and what the build's template held.
      const cached = sql<string>`(select coalesce(string_agg(s.component, '+' order by s.component), '') from ${buildSteps} s where s.build_id = ${builds.id} and s.cached and s.component <> 'binary')`;
      const covered = keys(sql`jsonb_array_elements_text(coalesce(${builds.plan}->'base'->'covers', '[]'::jsonb))`);
      const hour = sql<number>`floor(extract(epoch from ${builds.finishedAt}) / 3600)`;
      const hours = db.$with('demand_hours').as(
        db
          .select({
            root: sql<string>`${builds.plan}->'root'->>'name'`.as('root'),
            combo: combo.as('combo'),
            cached: cached.as('cached'),
            covered: covered.as('covered'),
            // The middle of the hour stands for its builds — but never a time after the last of them: an analysis now
            // must count the builds of the hour that is still running (they happened, however recently).
            t: sql<number>`least((${hour} + 0.5) * 3600, max(extract(epoch from ${builds.finishedAt})))::float8`.as('t'),
            count: sql<number>`count(*)::float8`.as('n'),
          })
          .from(builds)
          .where(and(eq(builds.status, 'succeeded'), gte(builds.finishedAt, since)))
          .groupBy(sql`1`, sql`2`, sql`3`, sql`4`, hour),
      );
      const rows = await db
        .with(hours)
        .select({
          root: hours.root,
          combo: hours.combo,
          cached: hours.cached,
          covered: hours.covered,
          hours: sql<Uint8Array>`string_agg(float8send(${hours.t}) || float8send(${hours.count}), ''::bytea)`,
        })
        .from(hours)
        .groupBy(hours.root, hours.combo, hours.cached, hours.covered);
      const split = (list: string) => (list ? list.split('+') : []);
      const n = rows.reduce((sum, r) => sum + r.hours.byteLength / 16, 0);
      const out: DemandHours = { combos: [], combo: new Int32Array(n), t: new Float64Array(n), count: new Float64Array(n) };
      let x = 0;
      for (const r of rows) {
        const i = out.combos.push({ root: r.root, components: split(r.combo), ...(r.cached ? { cached: split(r.cached) } : {}), ...(r.covered ? { covered: split(r.covered) } : {}) }) - 1;
        const packed = new DataView(r.hours.buffer, r.hours.byteOffset, r.hours.byteLength);
        for (let at = 0; at < packed.byteLength; at += 16, x++) {
          out.combo[x] = i;
          out.t[x] = packed.getFloat64(at);
          out.count[x] = packed.getFloat64(at + 8);
        }
      }
      return out;
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
    /** What the latest finished analysis decided (the analyzer's memory between runs), if any finished. */
    async lastFinishedRunDecisions(): Promise<unknown> {
      const [row] = await db
        .select({ decisions: analyzerRuns.decisions })
        .from(analyzerRuns)
        .where(isNotNull(analyzerRuns.finishedAt))
        .orderBy(desc(analyzerRuns.finishedAt))
        .limit(1);
      return row?.decisions;
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

// The history the estimator learns from: recent ended builds with their steps (in order, so each install step knows
// what it stood on and whether the cache answered everything before it), and template builds' uncached installs.
import { and, asc, desc, eq, gte, inArray, isNotNull } from 'drizzle-orm';
import type { BuildSample, Route, StepSample } from '../eta/estimate-types.ts';
import { baseKey, prefixKey } from '../eta/estimate-types.ts';
import type { Db } from './database.ts';
import { builds, buildSteps, type BuildStepRow } from './schema/builds.ts';
import { templateSteps } from './schema/templates.ts';

const routeOf = (kind: string): Route => (kind === 'composed' ? 'composed' : kind === 'template' ? 'template' : 'install');
const NOT_COMPONENTS = new Set(['binary', 'verify', 'pull', 'push']);

/** One build's steps as samples: install and cache steps carry their prefix and whether all before them were cached. */
export function stepSamples(t: number, req: { route: Route; root: string; templateId: string | null }, steps: readonly Pick<BuildStepRow, 'kind' | 'component' | 'seconds' | 'bytes' | 'cached'>[], components: number): StepSample[] {
  const base = baseKey(req);
  const before: string[] = [];
  let cachedSoFar = true;
  const out: StepSample[] = [];
  for (const s of steps) {
    const kind = s.kind ?? (s.cached ? 'cache' : 'install');
    const install = (kind === 'install' || kind === 'cache') && !NOT_COMPONENTS.has(s.component);
    out.push({ t, kind, component: s.component, seconds: s.seconds, bytes: s.bytes ?? null, prefix: install ? prefixKey(base, before) : null, afterCached: install && cachedSoFar, components });
    if (install) {
      before.push(s.component);
      cachedSoFar &&= kind === 'cache';
    }
  }
  return out;
}

export function createEtaStore(db: Db) {
  return {
    /** Succeeded builds that finished since `since` (newest `limit`), with their steps, as samples. */
    async history(since: Date, limit: number): Promise<{ steps: StepSample[]; builds: BuildSample[] }> {
      const rows = await db
        .select({ id: builds.id, plan: builds.plan, queuedAt: builds.queuedAt, startedAt: builds.startedAt, finishedAt: builds.finishedAt })
        .from(builds)
        .where(and(eq(builds.status, 'succeeded'), gte(builds.finishedAt, since), isNotNull(builds.startedAt)))
        .orderBy(desc(builds.finishedAt))
        .limit(limit);
      const stepRows = rows.length
        ? await db.select().from(buildSteps).where(inArray(buildSteps.buildId, rows.map((r) => r.id))).orderBy(asc(buildSteps.buildId), asc(buildSteps.position))
        : [];
      const byBuild = new Map<string, BuildStepRow[]>();
      for (const s of stepRows) (byBuild.get(s.buildId) ?? byBuild.set(s.buildId, []).get(s.buildId)!).push(s);
      const templateRows = await db
        .select({ component: templateSteps.component, seconds: templateSteps.seconds, finishedAt: templateSteps.finishedAt })
        .from(templateSteps)
        .where(and(eq(templateSteps.cached, false), gte(templateSteps.finishedAt, since)))
        .orderBy(desc(templateSteps.finishedAt))
        .limit(limit);

      const steps: StepSample[] = templateRows.map((s) => ({ t: s.finishedAt.getTime() / 1000, kind: 'install', component: s.component, seconds: s.seconds, bytes: null, prefix: null, afterCached: false, components: 1 }));
      const samples: BuildSample[] = [];
      for (const r of rows) {
        const base = r.plan.base;
        const route = routeOf(base.kind);
        const templateId = base.kind === 'template' ? base.templateId : null;
        const own = byBuild.get(r.id) ?? [];
        const t = r.finishedAt!.getTime() / 1000;
        steps.push(...stepSamples(t, { route, root: r.plan.root.name, templateId }, own, r.plan.components.length));
        samples.push({
          route,
          queuedAt: r.queuedAt.getTime() / 1000,
          startedAt: r.startedAt!.getTime() / 1000,
          finishedAt: t,
          stepSeconds: own.reduce((n, s) => n + s.seconds, 0),
          templateId,
          pulled: own.some((s) => s.kind === 'pull'),
        });
      }
      return { steps, builds: samples };
    },
  };
}

export type EtaStore = ReturnType<typeof createEtaStore>;

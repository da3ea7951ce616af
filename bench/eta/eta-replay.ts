// Replays a timed trace in submission order: each build is estimated from what had ended before it was submitted (as
// the api would: its knowledge refreshed at most once a minute), with the route, template and sizes the preview
// would know, and compared with what it then took. The baseline is the catalog's estimate (the sum of its
// components' install estimates), what the form showed before. Pure.
import type { BuildSample, Estimate, RunRequest, StepSample } from '../../core/eta/estimate-types.ts';
import { estimateQueue, estimateRun, remainingOf } from '../../core/eta/estimator.ts';
import { learn, type EtaSettings, defaultEtaSettings, type Knowledge } from '../../core/eta/eta-knowledge.ts';
import type { TimedBuild } from '../analyzer/step-timings.ts';

const HISTORY_DAYS = 30;
const HISTORY_LIMIT = 2000;

export interface Scores {
  builds: number;
  /** Median absolute percentage error, and the share of builds whose real time fell inside the range. */
  mape: number;
  inRange: number;
}

export interface ReplayScores {
  run: Scores;
  catalog: Scores;
  byRoute: Record<string, Scores>;
  /** The catalog's estimate per route (on installed builds it is at least meant to apply). */
  catalogByRoute: Record<string, Scores>;
  /** Builds that waited at least a minute: their wait (from the runs ahead; from the drain rate alone), and wait + run. */
  queue: Scores;
  queueRate: Scores;
  total: Scores;
}

export function toSamples(b: TimedBuild): { steps: StepSample[]; build: BuildSample } {
  return {
    steps: b.steps.map((s) => ({ t: b.finishedAt, kind: s.kind, component: s.component, seconds: s.seconds, bytes: s.bytes, prefix: s.prefix, afterCached: s.afterCached, components: b.components.length })),
    build: {
      route: b.route,
      queuedAt: b.t,
      startedAt: b.startedAt,
      finishedAt: b.finishedAt,
      stepSeconds: b.steps.reduce((n, s) => n + s.seconds, 0),
      templateId: b.templateId,
      pulled: b.steps.some((s) => s.kind === 'pull'),
    },
  };
}

export const requestOf = (b: TimedBuild, canonicalOrder: (keys: string[]) => string[]): RunRequest => ({
  route: b.route,
  root: b.root,
  components: canonicalOrder(b.components),
  covered: b.covered,
  templateId: b.templateId,
  templateBytes: b.templateBytes,
  verified: b.verified,
  binaryBytes: b.binaryBytes,
});

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};

function score(pairs: { e: Estimate; actual: number }[]): Scores {
  return {
    builds: pairs.length,
    mape: median(pairs.map((p) => Math.abs(p.e.seconds - p.actual) / p.actual)),
    inRange: pairs.filter((p) => p.actual >= p.e.low && p.actual <= p.e.high).length / Math.max(1, pairs.length),
  };
}

export function replayEta(
  trace: readonly TimedBuild[],
  catalog: ReadonlyMap<string, number>,
  canonicalOrder: (keys: string[]) => string[],
  opts: { settings?: EtaSettings; concurrency: number; refreshSeconds?: number },
): ReplayScores {
  const byFinish = [...trace].sort((a, b) => a.finishedAt - b.finishedAt);
  // What the api reads: the builds of the last `historyDays`, at most `historyLimit` of them (api/eta-service.ts).
  const ended: { steps: StepSample[]; build: BuildSample }[] = [];
  let next = 0;
  let knowledge: Knowledge | undefined;
  let learnedAt = -Infinity;
  const run: { e: Estimate; actual: number; route: string }[] = [];
  const catalogPairs: { e: Estimate; actual: number; route: string }[] = [];
  const queue: { e: Estimate; actual: number }[] = [];
  const queueRate: { e: Estimate; actual: number }[] = [];
  const total: { e: Estimate; actual: number }[] = [];
  const submitted = new Map<TimedBuild, Estimate>();
  for (const b of [...trace].sort((x, y) => x.t - y.t)) {
    let grew = false;
    while (next < byFinish.length && byFinish[next]!.finishedAt <= b.t) {
      ended.push(toSamples(byFinish[next++]!));
      grew = true;
    }
    if (!knowledge || (grew && b.t - learnedAt >= (opts.refreshSeconds ?? 60))) {
      const recent = ended.slice(-HISTORY_LIMIT).filter((x) => x.build.finishedAt >= b.t - HISTORY_DAYS * 86400);
      knowledge = learn(recent.flatMap((x) => x.steps), recent.map((x) => x.build), catalog, b.t, opts.settings ?? defaultEtaSettings);
      learnedAt = b.t;
    }
    const actual = b.finishedAt - b.startedAt;
    const e = estimateRun(knowledge, requestOf(b, canonicalOrder));
    submitted.set(b, e);
    run.push({ e, actual, route: b.route });
    const c = b.components.reduce((n, k) => n + (catalog.get(k) ?? 0), 0);
    catalogPairs.push({ e: { seconds: c, low: c, high: c, basis: 'catalog' }, actual, route: b.route });
    const wait = b.startedAt - b.t;
    if (wait >= 60) {
      // What the api sees: the builds running now (their estimate at submit, less the time they have run) and the
      // builds submitted before this one that have not started (their estimate at submit).
      const running = trace.filter((x) => x.startedAt <= b.t && x.finishedAt > b.t && submitted.has(x)).map((x) => remainingOf(submitted.get(x)!, b.t - x.startedAt));
      const queued = trace.filter((x) => x.t < b.t && x.startedAt > b.t && submitted.has(x)).sort((x, y) => x.t - y.t).map((x) => submitted.get(x)!);
      const q = estimateQueue(knowledge, b.position, opts.concurrency, { running, queued });
      queue.push({ e: q, actual: wait });
      queueRate.push({ e: estimateQueue(knowledge, b.position, opts.concurrency), actual: wait });
      total.push({ e: { seconds: q.seconds + e.seconds, low: q.low + e.low, high: q.high + e.high, basis: e.basis }, actual: wait + actual });
    }
  }
  const byRoute: Record<string, Scores> = {};
  const catalogByRoute: Record<string, Scores> = {};
  for (const route of ['composed', 'template', 'install']) {
    byRoute[route] = score(run.filter((p) => p.route === route));
    catalogByRoute[route] = score(catalogPairs.filter((p) => p.route === route));
  }
  return { run: score(run), catalog: score(catalogPairs), byRoute, catalogByRoute, queue: score(queue), queueRate: score(queueRate), total: score(total) };
}

// Estimates where people wait: before submit (with the preview's route), in POST /v1/builds's answer (queue + run),
// and while a build waits or runs (GET /v1/builds/:id: elapsed, remaining, the current step). What the estimator knows
// is learned from the database at most every `refreshMs` and shared by every request meanwhile; a build seen to have
// succeeded since it was learned makes it stale at once (who watched a build end and asks again gets it counted).
import type { Redis } from 'ioredis';
import { binaryBytesOf, type BuildPlan } from '../core/build-types.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import type { EtaStore } from '../core/db/eta-store.ts';
import type { BuildRow, BuildStepRow } from '../core/db/schema/builds.ts';
import type { Estimate, RunEstimate, RunRequest, SubmitEstimate } from '../core/eta/estimate-types.ts';
import { addEstimates, estimateQueue, estimateRun, remainingOf, type AheadEstimates } from '../core/eta/estimator.ts';
import { learn, type Knowledge } from '../core/eta/eta-knowledge.ts';
import { runProgress, type ProgressStep, type RunProgress } from '../core/eta/progress.ts';
import { readProgress } from '../core/live-progress.ts';
import type { Logger } from '../core/logger.ts';
import type { QueueAhead } from './build-service.ts';

export interface EtaServiceDeps {
  store: EtaStore;
  catalog: Catalog;
  redis: Pick<Redis, 'get'>;
  queuePrefix: string;
  /** Builds one builder runs at once: the queue's guess before it has drained while someone waited. */
  concurrency: number;
  log: Logger;
  /** How long learned knowledge is reused (default 30 s). */
  refreshMs?: number;
  /** History older than this is not read (default 30 days), nor more than `historyLimit` builds. */
  historyDays?: number;
  historyLimit?: number;
}

/** GET /v1/builds/:id's `progress`. */
export interface BuildProgressView {
  elapsedSeconds: number;
  remainingSeconds: number | null;
  remainingLow: number | null;
  remainingHigh: number | null;
  fraction: number;
  queueSeconds: number | null;
  currentStep: RunProgress['currentStep'];
  steps: ProgressStep[];
  /** What POST /v1/builds answered. */
  submitted: SubmitEstimate | null;
}

const ROUTE_OF_BASE = { root: 'install', template: 'template', composed: 'composed' } as const;

/** What a started build's plan says it will do. */
export function requestOfPlan(plan: BuildPlan, templateBytes: number | null): RunRequest {
  const base = plan.base;
  return {
    route: ROUTE_OF_BASE[base.kind],
    root: plan.root.name,
    components: plan.components.map((c) => c.key),
    covered: base.kind === 'template' ? base.covers : [],
    templateId: base.kind === 'template' ? base.templateId : null,
    templateBytes,
    verified: base.kind === 'composed' ? !base.verifiedNow : null,
    binaryBytes: binaryBytesOf(plan.binary),
  };
}

export function createEtaService(deps: EtaServiceDeps) {
  const catalogCosts = new Map([...deps.catalog.components.values()].flatMap((c) => [...c.versions.values()].map((v) => [v.key, v.costEstimateSeconds] as const)));
  let cached: { at: number; knowledge: Promise<Knowledge> } | undefined;

  const knowledge = (): Promise<Knowledge> => {
    const now = Date.now();
    if (!cached || now - cached.at > (deps.refreshMs ?? 30_000)) {
      const since = new Date(now - (deps.historyDays ?? 30) * 86400_000);
      const promise = deps.store.history(since, deps.historyLimit ?? 2000).then((h) => learn(h.steps, h.builds, catalogCosts, now / 1000));
      cached = { at: now, knowledge: promise };
      // A failed read is not kept: the next request tries again.
      promise.catch(() => (cached = undefined));
    }
    return cached.knowledge;
  };

  const run = async (req: RunRequest): Promise<RunEstimate> => estimateRun(await knowledge(), req);
  /** The builds ahead as estimates: each one's run as estimated when it was submitted (running ones: what is left). */
  const aheadOf = (a: QueueAhead | undefined, now: number): AheadEstimates | undefined => {
    if (!a) return undefined;
    const runOf = (e: SubmitEstimate): Estimate => ({ seconds: e.runSeconds, low: e.runLow ?? e.runSeconds / 2, high: e.runHigh ?? e.runSeconds * 2, basis: e.basis });
    return {
      running: a.running.filter((r) => r.estimate && r.startedAt).map((r) => remainingOf(runOf(r.estimate!), (now - r.startedAt!.getTime()) / 1000)),
      queued: a.queued.filter((q) => q.estimate).map((q) => runOf(q.estimate!)),
    };
  };
  const queue = async (position: number | null, ahead?: QueueAhead, now = Date.now()): Promise<Estimate | null> =>
    position ? estimateQueue(await knowledge(), position, deps.concurrency, aheadOf(ahead, now)) : null;

  return {
    run,
    /**
     * What a build submitted now would wait and take: `position` is where it would be (or is) in the queue, `ahead`
     * what it waits for.
     */
    async submit(req: RunRequest, position: number | null, ahead?: QueueAhead): Promise<SubmitEstimate> {
      const r = await run(req);
      const q = await queue(position, ahead);
      const total = q ? addEstimates(q, r) : r;
      return {
        route: req.route,
        seconds: total.seconds,
        low: total.low,
        high: total.high,
        basis: total.basis,
        queueSeconds: q?.seconds ?? 0,
        runSeconds: r.seconds,
        runLow: r.low,
        runHigh: r.high,
      };
    },

    /** Where a build is and what it has left. Never fails the request it serves: without an estimate, null. */
    async progress(
      build: BuildRow,
      steps: BuildStepRow[],
      queuePosition: number | null,
      opts: { templateBytes: number | null; ahead?: () => Promise<QueueAhead> },
      now = Date.now(),
    ): Promise<BuildProgressView | null> {
      const { templateBytes } = opts;
      try {
        const submitted = build.estimate ?? null;
        if (build.status === 'queued') {
          const q = await queue(queuePosition, queuePosition ? await opts.ahead?.() : undefined, now);
          const r = submitted
            ? { seconds: submitted.runSeconds, low: submitted.runLow ?? submitted.runSeconds / 2, high: submitted.runHigh ?? submitted.runSeconds * 2 }
            : await run(requestOfPlan(build.plan, templateBytes));
          const waited = (now - build.queuedAt.getTime()) / 1000;
          return {
            elapsedSeconds: waited,
            remainingSeconds: (q?.seconds ?? 0) + r.seconds,
            remainingLow: (q?.low ?? 0) + r.low,
            remainingHigh: (q?.high ?? 0) + r.high,
            fraction: 0,
            queueSeconds: q?.seconds ?? null,
            currentStep: null,
            steps: [],
            submitted,
          };
        }
        if (build.status === 'running' && build.startedAt) {
          const p = runProgress(await run(requestOfPlan(build.plan, templateBytes)), await readProgress(deps.redis, deps.queuePrefix, build.id), build.startedAt.getTime(), now);
          return { ...p, queueSeconds: null, submitted };
        }
        if (build.status === 'succeeded' && cached && build.finishedAt && build.finishedAt.getTime() >= cached.at) cached = undefined;
        const took = build.startedAt && build.finishedAt ? (build.finishedAt.getTime() - build.startedAt.getTime()) / 1000 : 0;
        return {
          elapsedSeconds: took,
          remainingSeconds: 0,
          remainingLow: 0,
          remainingHigh: 0,
          fraction: build.status === 'succeeded' ? 1 : 0,
          queueSeconds: null,
          currentStep: null,
          steps: steps.map((s) => ({ kind: s.kind ?? (s.cached ? 'cache' : 'install'), component: s.component, status: 'done', seconds: s.seconds, estimatedSeconds: s.seconds })),
          submitted,
        };
      } catch (err) {
        deps.log.warn({ err, buildId: build.id }, 'could not estimate the progress of a build');
        return null;
      }
    },
  };
}

export type EtaService = ReturnType<typeof createEtaService>;

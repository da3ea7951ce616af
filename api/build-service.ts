// Accepts a build request: plans it (listing every problem), records it and enqueues it — once per Idempotency-Key;
// reads builds back, lists them, and waits for one to end. Every call is scoped to the caller's project.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BuildLog, LogEvent } from '../core/build-log.ts';
import { planBuild } from '../core/build-planner.ts';
import type { BuildSpec } from '../core/build-types.ts';
import { canonicalHash } from '../core/canonical-json.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import type { Config } from '../core/config.ts';
import type { BuildStore } from '../core/db/build-store.ts';
import type { IdempotencyStore } from '../core/db/idempotency-store.ts';
import type { BuildRow, BuildStatus } from '../core/db/schema/builds.ts';
import type { IdempotencyKeyRow } from '../core/db/schema/webhooks.ts';
import type { SubmitEstimate } from '../core/eta/estimate-types.ts';

/** What a waiting build waits for: the builds running now and the builds before it (their estimates at submit). */
export interface QueueAhead {
  running: Pick<BuildRow, 'startedAt' | 'estimate'>[];
  queued: Pick<BuildRow, 'estimate'>[];
}
import type { UploadStore } from '../core/db/upload-store.ts';
import { ConflictError, ForbiddenError, NotFoundError, UnavailableError, ValidationError } from '../core/errors.ts';
import { isKilnNamespace } from '../core/kiln-repositories.ts';
import type { Logger } from '../core/logger.ts';
import { BUILD_JOB, buildJobOptions, cancelKey, type BuildJob } from '../core/queues.ts';
import { isUuid } from './api-schemas.ts';
import { atField } from './error-handler.ts';

export interface BuildServiceDeps {
  catalog: Catalog;
  builds: BuildStore;
  uploads: Pick<UploadStore, 'get'>;
  idempotency: IdempotencyStore;
  queue: Pick<Queue<BuildJob>, 'add' | 'remove' | 'getJobCounts' | 'keys'>;
  logs: Pick<BuildLog, 'text' | 'follow' | 'writer' | 'finish'>;
  /** Producer connection: cancel requests are flags next to the queue, which builders look at while they run. */
  redis: Pick<Redis, 'set' | 'zrank' | 'llen' | 'zrange' | 'lrange'>;
  config: Pick<
    Config,
    | 'REGISTRY_HOST'
    | 'REGISTRY_PREFIX'
    | 'KILN_ROOT_IMAGE_PREFIX'
    | 'KILN_BUILD_ATTEMPTS'
    | 'KILN_BUILD_BACKOFF_SECONDS'
    | 'KILN_BUILD_TIMEOUT_MAX_SECONDS'
    | 'KILN_QUEUE_PREFIX'
  >;
  log: Logger;
  /**
   * What a build just queued will wait and take (with the route it will most likely go), or null when it cannot be
   * said; kept on the build. Absent: builds are not estimated.
   */
  estimate?: (build: BuildRow, queuePosition: number | null, ahead: QueueAhead) => Promise<SubmitEstimate | null>;
  /** How often a waiting request looks at the build again. */
  waitPollMs?: number;
}

export const endedStatuses: readonly BuildStatus[] = ['succeeded', 'failed', 'canceled'];

/**
 * What an Idempotency-Key is checked against: the spec, with `"route": "auto"` taken as absent (the same build), so
 * keys saved before routes existed, and webhook redeliveries, still match; a request with another route differs.
 */
export const requestHashOf = (spec: BuildSpec): string => {
  const { route, ...rest } = spec;
  return canonicalHash(route === undefined || route === 'auto' ? rest : spec);
};

export function createBuildService(deps: BuildServiceDeps) {
  const pollMs = deps.waitPollMs ?? 500;

  /**
   * 1 = the next build any builder takes. BullMQ takes its `wait` list first (jobs without priority), then the
   * `prioritized` set in order; builds always have a priority, so their place is the wait list's length + their rank.
   * Null when the build is not waiting (running, ended, or delayed for a retry).
   */
  const queuePosition = async (build: BuildRow): Promise<number | null> => {
    if (build.status !== 'queued') return null;
    const { prioritized, wait } = deps.queue.keys;
    if (!prioritized || !wait) return null;
    const [rank, waiting] = await Promise.all([deps.redis.zrank(prioritized, build.id), deps.redis.llen(wait)]);
    return rank === null ? null : waiting + rank + 1;
  };

  /** What `build` waits for (the builds taken before it), or a build submitted now (`build` absent). */
  const queueAhead = async (build?: BuildRow): Promise<QueueAhead> => {
    const { prioritized, wait } = deps.queue.keys;
    if (!prioritized || !wait) return { running: [], queued: [] };
    const rank = build ? await deps.redis.zrank(prioritized, build.id) : -1;
    if (build && rank === null) return { running: [], queued: [] };
    // BullMQ takes its wait list first, then the prioritized set in order.
    const ids = [...(await deps.redis.lrange(wait, 0, -1)), ...(rank === 0 ? [] : await deps.redis.zrange(prioritized, '0', String(rank === -1 ? -1 : rank! - 1)))].map(String);
    const view = await deps.builds.queueView(ids);
    const order = new Map(ids.map((id, i) => [id, i]));
    return { running: view.running, queued: view.waiting.sort((a, b) => order.get(a.id)! - order.get(b.id)!) };
  };

  const get = async (project: string, id: string) => {
    const build = isUuid(id) ? await deps.builds.get(id, project) : undefined;
    if (!build) throw new NotFoundError(`no build "${id}"`);
    return build;
  };

  /** The answer to a repeated key: the build it made, unless the body differs. */
  const replay = async (claim: IdempotencyKeyRow, requestHash: string): Promise<{ build: BuildRow; replayed: true }> => {
    if (claim.requestHash !== requestHash) {
      throw new ConflictError(`Idempotency-Key "${claim.key}" was already used with a different request body (for build ${claim.buildId})`);
    }
    return { build: await get(claim.project, claim.buildId), replayed: true };
  };

  /** Plans a spec as the caller's project would get it; ValidationError with every problem when it cannot be built. */
  const plan = async (project: string, spec: BuildSpec) => {
    // Its images would land among kiln's own (layers, roots, templates) and replace what other builds are made of.
    if (isKilnNamespace(project)) {
      throw atField(new ForbiddenError(`project "${project}" may not build: its namespace is kiln's own repository ${deps.config.REGISTRY_PREFIX}/${project}`), 'project');
    }
    const upload = isUuid(spec.uploadId) ? await deps.uploads.get(project, spec.uploadId) : undefined;
    const result = planBuild(spec, {
      catalog: deps.catalog,
      upload,
      registryHost: deps.config.REGISTRY_HOST,
      registryPrefix: deps.config.REGISTRY_PREFIX,
      project,
      rootImagePrefix: deps.config.KILN_ROOT_IMAGE_PREFIX,
    });
    const problems = result.ok ? [] : [...result.problems];
    if (spec.timeoutSeconds !== undefined && spec.timeoutSeconds > deps.config.KILN_BUILD_TIMEOUT_MAX_SECONDS) {
      problems.push({ field: 'timeoutSeconds', message: `must be at most ${deps.config.KILN_BUILD_TIMEOUT_MAX_SECONDS} (this server's maximum)` });
    }
    if (!result.ok || problems.length > 0) throw new ValidationError(problems);
    return result.plan;
  };

  const enqueue = async (build: BuildRow, idempotencyKey: string | undefined) => {
    try {
      await deps.queue.add(
        BUILD_JOB,
        { buildId: build.id },
        buildJobOptions(build.id, {
          attempts: deps.config.KILN_BUILD_ATTEMPTS,
          backoffSeconds: deps.config.KILN_BUILD_BACKOFF_SECONDS,
          priority: build.spec.priority ?? 'interactive',
        }),
      );
    } catch (err) {
      // A row without a job would sit in `queued` forever: end it, free the key, and tell the caller to try again.
      deps.log.error({ err, buildId: build.id }, 'could not enqueue build');
      await deps.builds.finish(build.id, { status: 'failed', error: 'could not enqueue the build (queue unavailable); nothing was built' });
      if (idempotencyKey !== undefined) await deps.idempotency.release(build.project, idempotencyKey);
      throw new UnavailableError('the build queue is unavailable; try again shortly');
    }
  };

  return {
    /**
     * Plans, records and enqueues a build. With an idempotency key, the same key and body return the first build
     * (`replayed`), and the same key with another body is a ConflictError.
     */
    async create(project: string, spec: BuildSpec, opts: { idempotencyKey?: string } = {}): Promise<{ build: BuildRow; replayed: boolean }> {
      const key = opts.idempotencyKey;
      if (isKilnNamespace(project)) await plan(project, spec); // refused before any replay
      const requestHash = requestHashOf(spec);
      if (key !== undefined) {
        const claim = await deps.idempotency.find(project, key);
        if (claim) return replay(claim, requestHash);
      }

      const planned = await plan(project, spec);
      const row = { id: randomUUID(), project, spec, plan: planned, imageRef: planned.imageRef };
      let build: BuildRow;
      if (key === undefined) {
        build = await deps.builds.insert(row);
      } else {
        const once = await deps.idempotency.insertBuildOnce({ project, key, requestHash }, row);
        if ('existing' in once) return replay(once.existing, requestHash);
        build = once.build;
      }
      await enqueue(build, key);
      deps.log.info({ buildId: build.id, project, image: planned.imageRef }, 'build queued');
      // An estimate is a courtesy: a build is never refused or delayed for want of one.
      const estimate = await (async () => deps.estimate?.(build, await queuePosition(build), await queueAhead(build)) ?? null)().catch((err: unknown) => {
        deps.log.warn({ err, buildId: build.id }, 'could not estimate a build');
        return null;
      });
      if (estimate) {
        await deps.builds.setEstimate(build.id, estimate);
        build = { ...build, estimate };
      }
      return { build, replayed: false };
    },

    /** Checks a spec without recording anything (a webhook's definition, before it is saved). */
    async check(project: string, spec: BuildSpec): Promise<void> {
      await plan(project, spec);
    },

    async get(project: string, id: string) {
      const build = await get(project, id);
      return { build, steps: await deps.builds.steps(id), queuePosition: await queuePosition(build) };
    },

    /** Where a queued build is in the queue (1 = next), else null. */
    queuePosition,
    queueAhead,

    /**
     * Long-poll: answers as soon as the build has ended, or when `seconds` have passed, or when the client goes away
     * (`signal`), whichever is first. The client waits without polling; kiln looks at the row every `waitPollMs`.
     */
    async waitForEnd(project: string, id: string, seconds: number, signal?: AbortSignal) {
      const deadline = Date.now() + seconds * 1000;
      let build = await get(project, id);
      while (!endedStatuses.includes(build.status) && Date.now() < deadline && !signal?.aborted) {
        try {
          await sleep(Math.min(pollMs, deadline - Date.now()), undefined, signal ? { signal } : {});
        } catch {
          break; // aborted: the client left
        }
        build = await get(project, id);
      }
      return { build, steps: await deps.builds.steps(id), queuePosition: await queuePosition(build) };
    },

    async list(project: string, opts: { status?: BuildStatus; limit: number }) {
      return deps.builds.list(project, opts);
    },

    async log(project: string, id: string): Promise<{ status: string; text: string }> {
      const build = await get(project, id);
      return { status: build.status, text: await deps.logs.text(id) };
    },

    /** Follows a build's log live (see BuildLog.follow); checks the build is the caller's first. */
    async followLog(project: string, id: string, opts: { fromId?: string; signal: AbortSignal }): Promise<AsyncGenerator<LogEvent>> {
      await get(project, id);
      return deps.logs.follow(id, {
        ...opts,
        ended: async () => {
          const b = await deps.builds.get(id);
          return b && endedStatuses.includes(b.status) ? b.status : undefined;
        },
      });
    },

    /**
     * Cancels a build. A queued one ends `canceled` at once and leaves the queue; a running one is flagged, and its
     * builder stops the engine's build within about a second and records `canceled`. An ended build is a conflict.
     */
    async cancel(project: string, id: string): Promise<BuildRow> {
      const build = await get(project, id);
      if (endedStatuses.includes(build.status)) throw new ConflictError(`build ${id} already ended (${build.status}); there is nothing to cancel`);
      if (await deps.builds.cancelQueued(id)) {
        // If a builder took the job meanwhile, it finds the build canceled and does nothing; remove() is tidiness.
        await deps.queue.remove(id).catch((err: unknown) => deps.log.warn({ err, buildId: id }, 'could not remove a canceled job'));
        const out = deps.logs.writer(id);
        out.append('kiln: canceled before it started\n');
        await out.flush();
        await deps.logs.finish(id, 'canceled');
        deps.log.info({ buildId: id, project }, 'queued build canceled');
        return get(project, id);
      }
      // Running (or just started): the flag outlives this request; the builder polls it.
      await deps.redis.set(cancelKey(deps.config.KILN_QUEUE_PREFIX, id), '1', 'EX', 7 * 24 * 3600);
      deps.log.info({ buildId: id, project }, 'cancel requested for a running build');
      return get(project, id);
    },

    /** Builds waiting and running across every project (the queue is shared), and template builds. */
    async queueCounts() {
      const c = await deps.queue.getJobCounts('wait', 'prioritized', 'active', 'delayed');
      return { waiting: (c.wait ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, retrying: c.delayed ?? 0 };
    },
  };
}

export type BuildService = ReturnType<typeof createBuildService>;

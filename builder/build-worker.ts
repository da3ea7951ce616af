// The BullMQ worker for builds: parses the job, runs it at most once to a terminal state per attempt, records the
// outcome, and tells BullMQ whether to retry (rethrow) or not (UnrecoverableError). Never swallows an error.
// A running build can be stopped three ways — canceled by a user, timed out, or requeued by a builder shutting
// down — all through one AbortSignal whose reason says which.
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BuildLog } from '../core/build-log.ts';
import type { BuildStore } from '../core/db/build-store.ts';
import type { BuildRow } from '../core/db/schema/builds.ts';
import type { Logger } from '../core/logger.ts';
import { BUILD_JOB, BUILD_QUEUE, buildJobSchema, type BuildJob } from '../core/queues.ts';
import { BuildStopped, isTransient, stopReason } from './build-errors.ts';
import { runBuild, type BuildRunnerDeps } from './build-runner.ts';

export interface BuildWorkerDeps extends BuildRunnerDeps {
  builds: BuildStore;
  logs: Pick<BuildLog, 'writer' | 'finish'>;
  /**
   * Chooses what the build starts FROM right before it runs (the best ready template, or the root) and records it;
   * returns the build with its plan updated. Choosing late means no build starts from a template that went stale.
   */
  chooseBase(build: BuildRow): Promise<BuildRow>;
  /** Whether a user asked to cancel the build (looked at every `cancelPollMs` while it runs). */
  cancelRequested(buildId: string): Promise<boolean>;
  /** Other job kinds this worker runs from the same queue (template builds), by job name. */
  extraHandlers?: Record<string, (job: Job, token?: string) => Promise<unknown>>;
  /** host:pid, written into the log of each attempt, so a reader sees which builder ran it. */
  builderName: string;
  timeouts: { defaultSeconds: number; maxSeconds: number };
  cancelPollMs?: number;
  log: Logger;
}

export type BuildResult = { digest: string } | { skipped: string } | { canceled: true };

export function createBuildProcessor(deps: BuildWorkerDeps) {
  /** Active builds on this worker, so a shutdown can requeue them. */
  const active = new Map<string, AbortController>();

  async function processBuild(job: Job<BuildJob>, token?: string): Promise<BuildResult> {
    const parsed = buildJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`malformed build job ${job.id}: ${parsed.error.message}`);
    const { buildId } = parsed.data;
    const attempt = job.attemptsMade + 1;
    const log = deps.log.child({ buildId, attempt });

    const found = await deps.builds.get(buildId);
    if (!found) throw new UnrecoverableError(`build ${buildId} does not exist`);
    // Idempotent: a re-delivered job for a build that already ended (or was canceled while queued) does nothing.
    if (!(await deps.builds.markRunning(buildId, attempt))) {
      log.info({ status: found.status }, 'build already ended; nothing to do');
      return { skipped: found.status };
    }

    // The log is one stream across attempts and builders: a retry (or a takeover after a crash) continues it.
    const out = deps.logs.writer(buildId);
    out.append(`kiln: attempt ${attempt} on builder ${deps.builderName}\n`);
    const end = async (status: 'succeeded' | 'failed' | 'canceled') => {
      await out.flush();
      await deps.logs.finish(buildId, status);
    };

    const seconds = Math.min(found.spec.timeoutSeconds ?? deps.timeouts.defaultSeconds, deps.timeouts.maxSeconds);
    const controller = new AbortController();
    const stop = (reason: BuildStopped) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    active.set(buildId, controller);
    const timer = setTimeout(() => stop(new BuildStopped('timeout', `the build ran longer than its timeout of ${seconds} s`)), seconds * 1000);
    const watchCancel = async () => {
      if (await deps.cancelRequested(buildId)) stop(new BuildStopped('canceled', 'canceled by a user'));
    };
    const cancelWatch = setInterval(() => void watchCancel().catch((err: unknown) => log.warn({ err }, 'could not check for cancellation')), deps.cancelPollMs ?? 1000);

    try {
      await watchCancel();
      controller.signal.throwIfAborted();
      const build = await deps.chooseBase(found);
      log.info({ base: build.plan.base.image }, 'build started');
      const outcome = await runBuild(deps, build, out.append, controller.signal);
      await deps.builds.finish(buildId, {
        status: 'succeeded',
        digest: outcome.digest,
        imageId: outcome.imageId,
        steps: outcome.steps.map((s, position) => ({ position, component: s.owner, recipeHash: s.recipeHash, seconds: s.seconds, cached: s.cached })),
      });
      await end('succeeded');
      log.info({ digest: outcome.digest }, 'build succeeded');
      return { digest: outcome.digest };
    } catch (err) {
      const stopped = stopReason(controller.signal);
      if (stopped?.kind === 'canceled') {
        out.append(`kiln: canceled; the engine's build was stopped and nothing was pushed\n`);
        await deps.builds.finish(buildId, { status: 'canceled', error: 'canceled by a user' });
        await end('canceled');
        log.info('build canceled');
        return { canceled: true };
      }
      if (stopped?.kind === 'shutdown') {
        // Not the build's fault: back to the queue without spending an attempt, for another (or this) builder.
        out.append(`kiln: builder ${deps.builderName} is shutting down; the build goes back to the queue\n`);
        await out.flush();
        await deps.builds.requeue(buildId);
        await job.moveToDelayed(Date.now(), token);
        log.info('build requeued on shutdown');
        throw new DelayedError();
      }
      const message = stopped?.kind === 'timeout' ? stopped.message : (err as Error).message;
      const transient = !stopped && isTransient(err);
      const lastAttempt = attempt >= (job.opts.attempts ?? 1);
      out.append(`kiln: attempt ${attempt} failed (${transient ? 'transient, may be retried' : 'permanent'}): ${message}\n`);
      if (!transient || lastAttempt) {
        const reason = transient ? `${message} (gave up after ${attempt} attempts)` : message;
        await deps.builds.finish(buildId, { status: 'failed', error: reason });
        await end('failed');
        log.warn({ err }, 'build failed');
      } else {
        await out.flush();
        log.warn({ err }, 'build attempt failed; will retry');
      }
      if (!transient) throw new UnrecoverableError(message);
      throw err;
    } finally {
      clearTimeout(timer);
      clearInterval(cancelWatch);
      active.delete(buildId);
    }
  }

  return Object.assign(processBuild, {
    /** Stops every active build with `reason` (shutdown past its grace period). */
    stopAll(reason: BuildStopped): number {
      for (const c of active.values()) if (!c.signal.aborted) c.abort(reason);
      return active.size;
    },
  });
}

export interface BuildWorker {
  worker: Worker;
  /** Stops taking jobs; active builds get `graceMs` to finish, then go back to the queue. */
  close(graceMs: number): Promise<void>;
}

export function createBuildWorker(
  deps: BuildWorkerDeps & { connection: Redis; prefix: string; concurrency: number; lockSeconds: number },
): BuildWorker {
  const processor = createBuildProcessor(deps);
  const handlers: Record<string, (job: Job, token?: string) => Promise<unknown>> = { [BUILD_JOB]: processor, ...deps.extraHandlers };
  const worker = new Worker(
    BUILD_QUEUE,
    async (job, token) => {
      const handler = handlers[job.name];
      if (!handler) throw new UnrecoverableError(`no handler for job "${job.name}"`);
      return handler(job, token);
    },
    {
      connection: deps.connection,
      prefix: deps.prefix,
      concurrency: deps.concurrency,
      // A builder renews its claim every lockDuration/2; one that died stops, and after lockDuration another
      // builder's stalled-job check puts the build back in the queue. A build stalled twice (it crashes its builder?)
      // fails instead of taking builders down forever.
      lockDuration: deps.lockSeconds * 1000,
      stalledInterval: deps.lockSeconds * 1000,
      maxStalledCount: 2,
    },
  );
  worker.on('error', (err) => deps.log.error({ err }, 'build worker error'));
  // A job BullMQ fails on its own (stalled too often, lock lost) never reached our catch: end its build here, so no
  // build waits in `running` for ever.
  worker.on('failed', (job, err) => {
    if (job?.name !== BUILD_JOB || !buildJobSchema.safeParse(job.data).success) return;
    const { buildId } = job.data as BuildJob;
    void (async () => {
      // 'failed' is emitted for every failed attempt; only a job that will not run again is the queue giving up.
      if ((await job.getState()) !== 'failed') return;
      const row = await deps.builds.get(buildId);
      if (row && (row.status === 'running' || row.status === 'queued')) {
        await deps.builds.finish(buildId, { status: 'failed', error: `the build queue gave up on it: ${err.message}` });
        await deps.logs.finish(buildId, 'failed');
      }
    })().catch((e: unknown) => deps.log.error({ err: e, buildId }, 'could not record a failed build job'));
  });
  return {
    worker,
    async close(graceMs) {
      const closing = worker.close();
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'grace-over'>((resolve) => (timer = setTimeout(() => resolve('grace-over'), graceMs)));
      if ((await Promise.race([closing.then(() => 'closed' as const), graceOver])) === 'grace-over') {
        const n = processor.stopAll(new BuildStopped('shutdown', 'the builder is shutting down'));
        deps.log.warn({ builds: n, graceMs }, 'grace period over; requeueing active builds');
      }
      clearTimeout(timer);
      await closing;
    },
  };
}

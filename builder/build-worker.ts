// The BullMQ worker for builds: parses the job, runs it at most once to a terminal state per attempt, records the
// outcome, and tells BullMQ whether to retry (rethrow) or not (UnrecoverableError). Never swallows an error.
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BlobStore } from '../core/blob-store.ts';
import { buildLogKey } from '../core/build-log.ts';
import type { BuildStore } from '../core/db/build-store.ts';
import type { BuildRow } from '../core/db/schema/builds.ts';
import type { Logger } from '../core/logger.ts';
import { BUILD_JOB, BUILD_QUEUE, buildJobSchema, type BuildJob } from '../core/queues.ts';
import { isTransient } from './build-errors.ts';
import { runBuild, type BuildRunnerDeps } from './build-runner.ts';

export interface BuildWorkerDeps extends BuildRunnerDeps {
  builds: BuildStore;
  /**
   * Chooses what the build starts FROM right before it runs (the best ready template, or the root) and records it;
   * returns the build with its plan updated. Choosing late means no build starts from a template that went stale.
   */
  chooseBase(build: BuildRow): Promise<BuildRow>;
  /** Other job kinds this worker runs from the same queue (template builds), by job name. */
  extraHandlers?: Record<string, (job: Job, token?: string) => Promise<unknown>>;
  blobs: BuildRunnerDeps['blobs'] & Pick<BlobStore, 'putText' | 'getText'>;
  log: Logger;
}

export function createBuildProcessor(deps: BuildWorkerDeps) {
  return async function processBuild(job: Job<BuildJob>): Promise<{ digest: string } | { skipped: string }> {
    const parsed = buildJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`malformed build job ${job.id}: ${parsed.error.message}`);
    const { buildId } = parsed.data;
    const log = deps.log.child({ buildId, attempt: job.attemptsMade + 1 });

    const found = await deps.builds.get(buildId);
    if (!found) throw new UnrecoverableError(`build ${buildId} does not exist`);
    // Idempotent: a re-delivered job for a build that already ended does nothing.
    if (!(await deps.builds.markRunning(buildId, job.attemptsMade + 1))) {
      log.info({ status: found.status }, 'build already ended; nothing to do');
      return { skipped: found.status };
    }

    // A retry continues the log of the attempts before it.
    const previous = job.attemptsMade > 0 ? ((await deps.blobs.getText(buildLogKey(buildId))) ?? '') : '';
    const chunks: string[] = previous ? [previous, `\nkiln: attempt ${job.attemptsMade + 1}\n`] : [];
    const saveLog = () => deps.blobs.putText(buildLogKey(buildId), chunks.join(''));

    try {
      const build = await deps.chooseBase(found);
      log.info({ base: build.plan.base.image }, 'build started');
      const outcome = await runBuild(deps, build, (text) => chunks.push(text));
      await saveLog();
      await deps.builds.finish(buildId, {
        status: 'succeeded',
        digest: outcome.digest,
        imageId: outcome.imageId,
        steps: outcome.steps.map((s, position) => ({ position, component: s.owner, recipeHash: s.recipeHash, seconds: s.seconds, cached: s.cached })),
      });
      log.info({ digest: outcome.digest }, 'build succeeded');
      return { digest: outcome.digest };
    } catch (err) {
      const transient = isTransient(err);
      const message = (err as Error).message;
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      chunks.push(`kiln: attempt ${job.attemptsMade + 1} failed (${transient ? 'transient, may be retried' : 'permanent'}): ${message}\n`);
      await saveLog().catch((e: unknown) => log.warn({ err: e }, 'could not save the build log'));
      if (!transient || lastAttempt) {
        const reason = transient ? `${message} (gave up after ${job.attemptsMade + 1} attempts)` : message;
        await deps.builds.finish(buildId, { status: 'failed', error: reason });
        log.warn({ err }, 'build failed');
      } else {
        log.warn({ err }, 'build attempt failed; will retry');
      }
      if (!transient) throw new UnrecoverableError(message);
      throw err;
    }
  };
}

export function createBuildWorker(deps: BuildWorkerDeps & { connection: Redis; prefix: string; concurrency: number }): Worker {
  const processor = createBuildProcessor(deps);
  const handlers: Record<string, (job: Job, token?: string) => Promise<unknown>> = { [BUILD_JOB]: processor, ...deps.extraHandlers };
  const worker = new Worker(
    BUILD_QUEUE,
    async (job, token) => {
      const handler = handlers[job.name];
      if (!handler) throw new UnrecoverableError(`no handler for job "${job.name}"`);
      return handler(job, token);
    },
    { connection: deps.connection, prefix: deps.prefix, concurrency: deps.concurrency },
  );
  worker.on('error', (err) => deps.log.error({ err }, 'build worker error'));
  return worker;
}

// The BullMQ worker of the build queue: builds, template builds and component layers, one handler per job name (the process refuses to
// start without one for each), both through the same job lifecycle and image pipeline. Never swallows an error.
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BuildStore } from '../core/db/build-store.ts';
import type { TemplateStore } from '../core/db/template-store.ts';
import type { Logger } from '../core/logger.ts';
import { BUILD_JOB, BUILD_QUEUE, buildJobSchema, jobDispatcher, LAYERS_JOB, TEMPLATE_JOB, templateJobSchema } from '../core/queues.ts';
import { BuildStopped } from './build-errors.ts';
import { buildJobHandler, type BuildJobDeps } from './build-job.ts';
import { createJobLifecycle, type JobLifecycleDeps } from './job-lifecycle.ts';
import { layersJobHandler, type LayersJobDeps } from './layers-job.ts';
import { templateJobHandler, type TemplateJobDeps } from './template-job.ts';

export interface BuildWorkerDeps extends JobLifecycleDeps {
  builds: BuildJobDeps;
  templates: TemplateJobDeps & { store: Pick<TemplateStore, 'markEndedUnbuilt'> };
  layers: LayersJobDeps;
  logs: JobLifecycleDeps['logs'];
  connection: Redis;
  prefix: string;
  concurrency: number;
  lockSeconds: number;
}

export interface BuildWorker {
  worker: Worker;
  /** Stops taking jobs; active jobs get `graceMs` to finish, then go back to the queue. */
  close(graceMs: number): Promise<void>;
}

/** The record a job that BullMQ itself gave up on (stalled too often, lock lost) belongs to, ended `failed`. */
async function endAbandoned(deps: Pick<BuildWorkerDeps, 'builds' | 'templates' | 'logs'>, name: string, data: unknown, error: string): Promise<void> {
  if (name === BUILD_JOB) {
    const parsed = buildJobSchema.safeParse(data);
    if (!parsed.success) return;
    const builds: BuildStore = deps.builds.builds;
    const row = await builds.get(parsed.data.buildId);
    if (row && (row.status === 'running' || row.status === 'queued')) {
      await builds.finish(row.id, { status: 'failed', error });
      await deps.logs.finish(row.id, 'failed');
    }
  } else if (name === TEMPLATE_JOB) {
    const parsed = templateJobSchema.safeParse(data);
    if (parsed.success && (await deps.templates.store.markEndedUnbuilt(parsed.data.templateId, 'failed', error))) {
      await deps.logs.finish(parsed.data.templateId, 'failed');
    }
  }
}

export function createBuildWorker(deps: BuildWorkerDeps): BuildWorker {
  const lifecycle = createJobLifecycle(deps);
  const processor = jobDispatcher(BUILD_QUEUE, {
    [BUILD_JOB]: buildJobHandler(deps.builds, lifecycle),
    [TEMPLATE_JOB]: templateJobHandler(deps.templates, lifecycle),
    [LAYERS_JOB]: layersJobHandler(deps.layers, lifecycle),
  });
  const worker = new Worker(BUILD_QUEUE, processor, {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: deps.concurrency,
    // A builder renews its claim every lockDuration/2; one that died stops, and after lockDuration another
    // builder's stalled-job check puts the job back in the queue. A job stalled twice (it crashes its builder?)
    // fails instead of taking builders down forever.
    lockDuration: deps.lockSeconds * 1000,
    stalledInterval: deps.lockSeconds * 1000,
    maxStalledCount: 2,
  });
  worker.on('error', (err) => deps.log.error({ err }, 'build worker error'));
  // A job BullMQ fails on its own never reached the lifecycle's catch: end its record here, so no build waits in
  // `running` (nor template in `building`) for ever.
  worker.on('failed', (job, err) => {
    if (!job) return;
    void (async () => {
      // 'failed' is emitted for every failed attempt; only a job that will not run again is the queue giving up.
      if ((await job.getState()) !== 'failed') return;
      await endAbandoned(deps, job.name, job.data, `the build queue gave up on it: ${err.message}`);
    })().catch((e: unknown) => deps.log.error({ err: e, jobId: job.id }, 'could not record a failed job'));
  });
  return {
    worker,
    async close(graceMs) {
      const closing = worker.close();
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'grace-over'>((resolve) => (timer = setTimeout(() => resolve('grace-over'), graceMs)));
      if ((await Promise.race([closing.then(() => 'closed' as const), graceOver])) === 'grace-over') {
        const n = lifecycle.stopAll(new BuildStopped('shutdown', 'the builder is shutting down'));
        deps.log.warn({ jobs: n, graceMs }, 'grace period over; requeueing active builds and template builds');
      }
      clearTimeout(timer);
      await closing;
    },
  };
}

// The build queue's contract: its name, payload schema and retry policy, shared by producer (api) and worker (builder).
import { UnrecoverableError, type ConnectionOptions, type Job, type JobsOptions } from 'bullmq';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { BuildPriority } from './build-types.ts';

export const BUILD_QUEUE = 'builds';
export const BUILD_JOB = 'build';

export const buildJobSchema = z.strictObject({ buildId: z.uuid() });
export type BuildJob = z.infer<typeof buildJobSchema>;

/** Template builds share the build queue and builders (same engine, same cache, same limits); no binary. */
export const TEMPLATE_JOB = 'template';
export const templateJobSchema = z.strictObject({ templateId: z.uuid() });
export type TemplateJob = z.infer<typeof templateJobSchema>;
export const templateJobId = (templateId: string) => `template-${templateId}`;

/** Background work (template builds, component layers): after every waiting build, retried like builds. */
function backgroundJobOptions(jobId: string, opts: { attempts: number; backoffSeconds: number }, keep: Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'>): JobsOptions {
  return { jobId, attempts: opts.attempts, priority: JOB_PRIORITY.template, backoff: { type: 'exponential', delay: opts.backoffSeconds * 1000 }, ...keep };
}

/** Template builds retry transient failures like builds, and keep their records as long. */
export function templateJobOptions(templateId: string, opts: { attempts: number; backoffSeconds: number }): JobsOptions {
  return backgroundJobOptions(templateJobId(templateId), opts, { removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } });
}

/**
 * Component layers for a combination (composition): build the missing ones on an engine, and verify the combination
 * when asked. Queued by the analyzer ahead of demand and by builds that found a layer missing.
 */
export const LAYERS_JOB = 'layers';
export const layersJobSchema = z.strictObject({
  root: z.string().min(1).max(64),
  components: z.array(z.string().min(1).max(100)).max(64),
  verify: z.boolean(),
});
export type LayersJob = z.infer<typeof layersJobSchema>;
/** One job per combination while it waits: asking again does not queue it twice. */
export const layersJobId = (job: LayersJob) =>
  `layers-${createHash('sha256').update(JSON.stringify([job.root, [...job.components].sort(), job.verify])).digest('hex').slice(0, 32)}`;

/** A finished layers job is removed at once, so that the same combination can be asked for again. */
export function layersJobOptions(job: LayersJob, opts: { attempts: number; backoffSeconds: number }): JobsOptions {
  return backgroundJobOptions(layersJobId(job), opts, { removeOnComplete: true, removeOnFail: { age: 24 * 3600 } });
}

/** Analysis runs on its own queue: one at a time, on a schedule and on demand. */
export const ANALYZER_QUEUE = 'analyzer';
export const ANALYZE_JOB = 'analyze';
export const analyzeJobSchema = z.strictObject({ trigger: z.enum(['schedule', 'manual']) });
export type AnalyzeJob = z.infer<typeof analyzeJobSchema>;
/** Every project's retention rule, applied on the analyzer queue (one job at a time there, like analyses). */
export const RETENTION_JOB = 'retention';
export const retentionJobSchema = z.strictObject({ trigger: z.literal('schedule') });
export type RetentionJob = z.infer<typeof retentionJobSchema>;

/**
 * Queue order (BullMQ priority: lower starts first, first-in-first-out within one value). The rule: every waiting
 * interactive build starts before any waiting ci build, so a person at the form is never stuck behind a CI flood;
 * template builds are background work and start after both. A running build is never preempted.
 */
export const JOB_PRIORITY = { interactive: 1, ci: 10, template: 20 } as const;

/** The build id is the job id, so enqueueing twice is one job, and a job's record is found from the build. */
export function buildJobOptions(buildId: string, opts: { attempts: number; backoffSeconds: number; priority: BuildPriority }): JobsOptions {
  return {
    jobId: buildId,
    attempts: opts.attempts,
    priority: JOB_PRIORITY[opts.priority],
    // Transient failures (engine restarting, registry blip) usually clear within seconds to a minute.
    backoff: { type: 'exponential', delay: opts.backoffSeconds * 1000 },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/** Every job name each queue carries: a worker must handle exactly these (see jobDispatcher). */
export const QUEUE_JOBS = {
  [BUILD_QUEUE]: [BUILD_JOB, TEMPLATE_JOB, LAYERS_JOB],
  [ANALYZER_QUEUE]: [ANALYZE_JOB, RETENTION_JOB],
} as const;

export type JobHandler = (job: Job, token?: string) => Promise<unknown>;

/**
 * The processor of a queue's worker, built from one handler per job name. Refuses to be built (so the process
 * refuses to start) when a job name the queue may carry has no handler, or a handler names a job the queue never
 * carries: a job nobody handles would otherwise fail only when it arrives.
 */
export function jobDispatcher(queue: keyof typeof QUEUE_JOBS, handlers: Record<string, JobHandler>): JobHandler {
  const expected: readonly string[] = QUEUE_JOBS[queue];
  const missing = expected.filter((name) => !handlers[name]);
  const unknown = Object.keys(handlers).filter((name) => !expected.includes(name));
  if (missing.length > 0 || unknown.length > 0) {
    throw new Error(
      `the ${queue} queue's worker must handle exactly ${expected.join(', ')}` +
        (missing.length ? `; no handler for ${missing.join(', ')}` : '') +
        (unknown.length ? `; handlers for jobs it never carries: ${unknown.join(', ')}` : ''),
    );
  }
  return async (job, token) => {
    const handler = handlers[job.name];
    if (!handler) throw new UnrecoverableError(`no handler for job "${job.name}" on the ${queue} queue`);
    return handler(job, token);
  };
}

/** Redis keys kiln keeps next to its queues (same prefix, so one installation's keys stay together). */
export const buildLogStreamKey = (prefix: string, buildId: string) => `${prefix}:build-log:${buildId}`;
/** A cancel request for a running build or template build (by its id), which its builder looks for while it runs. */
export const cancelKey = (prefix: string, id: string) => `${prefix}:cancel:${id}`;
/** A running build's progress (core/live-progress.ts): which step it is on, and the steps it has done. */
export const progressKey = (prefix: string, id: string) => `${prefix}:progress:${id}`;

/** Producers fail fast when Redis is down; workers wait for it forever (BullMQ requires that for blocking calls). */
export function redisConnection(url: string, role: 'producer' | 'worker'): Redis {
  return new Redis(url, role === 'worker' ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1, enableOfflineQueue: false });
}

export type { ConnectionOptions };

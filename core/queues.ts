// The build queue's contract: its name, payload schema and retry policy, shared by producer (api) and worker (builder).
import type { ConnectionOptions, JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';

export const BUILD_QUEUE = 'builds';
export const BUILD_JOB = 'build';

export const buildJobSchema = z.strictObject({ buildId: z.uuid() });
export type BuildJob = z.infer<typeof buildJobSchema>;

/** Template builds share the build queue and builders (same engine, same cache, same limits); no binary. */
export const TEMPLATE_JOB = 'template';
export const templateJobSchema = z.strictObject({ templateId: z.uuid() });
export type TemplateJob = z.infer<typeof templateJobSchema>;
export const templateJobId = (templateId: string) => `template-${templateId}`;

/** Analysis runs on its own queue: one at a time, on a schedule and on demand. */
export const ANALYZER_QUEUE = 'analyzer';
export const ANALYZE_JOB = 'analyze';
export const analyzeJobSchema = z.strictObject({ trigger: z.enum(['schedule', 'manual']) });
export type AnalyzeJob = z.infer<typeof analyzeJobSchema>;

/** The build id is the job id, so enqueueing twice is one job, and a job's record is found from the build. */
export function buildJobOptions(buildId: string, attempts: number): JobsOptions {
  return {
    jobId: buildId,
    attempts,
    // Transient failures (engine restarting, registry blip) usually clear within seconds to a minute.
    backoff: { type: 'exponential', delay: 2_000 },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/** Producers fail fast when Redis is down; workers wait for it forever (BullMQ requires that for blocking calls). */
export function redisConnection(url: string, role: 'producer' | 'worker'): Redis {
  return new Redis(url, role === 'worker' ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1, enableOfflineQueue: false });
}

export type { ConnectionOptions };

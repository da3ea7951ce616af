// Starts the analyzer on an opened infrastructure: a worker on the analyzer queue (one analysis at a time), the
// repeatable schedule that enqueues an analysis every KILN_ANALYZER_INTERVAL_SECONDS, and its own /healthz, /readyz and
// /metrics when KILN_OPS_PORT is set.
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { sql } from 'drizzle-orm';
import { createCompositionStore } from '../core/db/composition-store.ts';
import { createImageStore } from '../core/db/image-store.ts';
import { createTemplateStore } from '../core/db/template-store.ts';
import { createImageDeletion } from '../core/images/image-deletion.ts';
import type { Infrastructure } from '../core/infrastructure.ts';
import { processMetrics, startOpsServer, type OpsServer } from '../core/ops-server.ts';
import { createReadiness } from '../core/readiness.ts';
import {
  ANALYZE_JOB,
  ANALYZER_QUEUE,
  analyzeJobSchema,
  BUILD_QUEUE,
  jobDispatcher,
  RETENTION_JOB,
  retentionJobSchema,
  type AnalyzeJob,
  type LayersJob,
  type TemplateJob,
} from '../core/queues.ts';
import { createAnalyzer } from './analyzer-service.ts';

export interface RunningAnalyzer {
  worker: Worker<AnalyzeJob>;
  close(): Promise<void>;
}

export const ANALYZE_SCHEDULER_ID = 'analyze-every-interval';
export const RETENTION_SCHEDULER_ID = 'retention-every-interval';

export async function startAnalyzer(infra: Infrastructure): Promise<RunningAnalyzer> {
  const { config } = infra;
  const buildQueue = new Queue<TemplateJob>(BUILD_QUEUE, { connection: infra.redis('producer'), prefix: config.KILN_QUEUE_PREFIX });
  const analyzerQueue = new Queue<AnalyzeJob>(ANALYZER_QUEUE, { connection: infra.redis('producer'), prefix: config.KILN_QUEUE_PREFIX });
  for (const q of [buildQueue, analyzerQueue]) q.on('error', (err) => infra.log.error({ err }, 'analyzer queue error'));
  const analyzer = createAnalyzer({
    catalog: infra.catalog,
    templates: createTemplateStore(infra.database.db),
    buildQueue,
    registry: infra.registry,
    docker: infra.docker,
    ...(config.KILN_COMPOSITION
      ? {
          layers: {
            catalog: infra.catalog,
            store: createCompositionStore(infra.database.db),
            queue: buildQueue as unknown as Queue<LayersJob>,
            registry: infra.registry,
            retry: { attempts: config.KILN_BUILD_ATTEMPTS, backoffSeconds: config.KILN_BUILD_BACKOFF_SECONDS },
            log: infra.log.child({ component: 'analyzer' }),
          },
        }
      : {}),
    config,
    log: infra.log.child({ component: 'analyzer' }),
  });

  const retention = createImageDeletion({
    images: createImageStore(infra.database.db),
    registry: infra.registry,
    registryPrefix: config.REGISTRY_PREFIX,
    log: infra.log.child({ component: 'retention' }),
  });

  const processor = jobDispatcher(ANALYZER_QUEUE, {
    [ANALYZE_JOB]: async (job) => {
      const parsed = analyzeJobSchema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`malformed analyze job: ${parsed.error.message}`);
      return analyzer.run(parsed.data.trigger);
    },
    [RETENTION_JOB]: async (job) => {
      const parsed = retentionJobSchema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`malformed retention job: ${parsed.error.message}`);
      const results = await retention.applyAllRules();
      return { projects: results.length, deleted: results.reduce((n, r) => n + r.deleted.length, 0) };
    },
  });
  // The analysis runs in a worker thread, so this event loop keeps renewing the claim (every half of the lock) however
  // long it computes; a claim left to lapse would have the job taken for stalled and run twice.
  const worker = new Worker<AnalyzeJob>(ANALYZER_QUEUE, processor, {
    connection: infra.redis('worker'),
    prefix: config.KILN_QUEUE_PREFIX,
    concurrency: 1,
    lockDuration: config.KILN_ANALYZER_LOCK_SECONDS * 1000,
    stalledInterval: config.KILN_ANALYZER_LOCK_SECONDS * 1000,
  });
  worker.on('error', (err) => infra.log.error({ err }, 'analyzer worker error'));
  await worker.waitUntilReady();
  // Idempotent: every analyzer process upserts the same schedulers, so there is one schedule however many run.
  // BullMQ runs an `every` scheduler once right away, then at each interval; 0 seconds removes it.
  const schedule = async (id: string, seconds: number, name: typeof ANALYZE_JOB | typeof RETENTION_JOB) => {
    if (seconds === 0) return void (await analyzerQueue.removeJobScheduler(id));
    const opts = { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } };
    await analyzerQueue.upsertJobScheduler(id, { every: seconds * 1000 }, { name, data: { trigger: 'schedule' }, opts });
  };
  await schedule(ANALYZE_SCHEDULER_ID, config.KILN_ANALYZER_INTERVAL_SECONDS, ANALYZE_JOB);
  await schedule(RETENTION_SCHEDULER_ID, config.KILN_RETENTION_INTERVAL_SECONDS, RETENTION_JOB);

  let ops: OpsServer | undefined;
  if (config.KILN_OPS_PORT !== undefined) {
    // What an analysis and a retention run use: no engine (a retired template's image on an engine is the builders'
    // to lose; removing it here is best effort), no S3.
    const producer = infra.redis('producer');
    const readiness = createReadiness(['database', 'redis', 'registry'] as const, {
      database: () => infra.database.db.execute(sql`select 1`),
      redis: () => producer.ping(),
      registry: () => infra.registry.check(),
    });
    ops = await startOpsServer({ host: config.KILN_HOST, port: config.KILN_OPS_PORT, readiness, metrics: processMetrics(), log: infra.log });
    infra.log.info({ url: ops.url }, 'analyzer health and metrics served');
  }
  return {
    worker,
    async close() {
      await ops?.close();
      await worker.close();
      await Promise.all([buildQueue.close(), analyzerQueue.close()]);
    },
  };
}

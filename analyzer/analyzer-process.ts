// Starts the analyzer on an opened infrastructure: a worker on the analyzer queue (one analysis at a time) and the
// repeatable schedule that enqueues an analysis every KILN_ANALYZER_INTERVAL_SECONDS.
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { createCompositionStore } from '../core/db/composition-store.ts';
import { createTemplateStore } from '../core/db/template-store.ts';
import type { Infrastructure } from '../core/infrastructure.ts';
import { ANALYZE_JOB, ANALYZER_QUEUE, analyzeJobSchema, BUILD_QUEUE, jobDispatcher, type AnalyzeJob, type LayersJob, type TemplateJob } from '../core/queues.ts';
import { createAnalyzer } from './analyzer-service.ts';

export interface RunningAnalyzer {
  worker: Worker<AnalyzeJob>;
  close(): Promise<void>;
}

export const ANALYZE_SCHEDULER_ID = 'analyze-every-interval';

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

  const processor = jobDispatcher(ANALYZER_QUEUE, {
    [ANALYZE_JOB]: async (job) => {
      const parsed = analyzeJobSchema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`malformed analyze job: ${parsed.error.message}`);
      return analyzer.run(parsed.data.trigger);
    },
  });
  const worker = new Worker<AnalyzeJob>(ANALYZER_QUEUE, processor, { connection: infra.redis('worker'), prefix: config.KILN_QUEUE_PREFIX, concurrency: 1 });
  worker.on('error', (err) => infra.log.error({ err }, 'analyzer worker error'));
  await worker.waitUntilReady();
  // Idempotent: every analyzer process upserts the same scheduler, so there is one schedule however many run.
  // BullMQ runs an `every` scheduler once right away, then at each interval.
  if (config.KILN_ANALYZER_INTERVAL_SECONDS > 0) {
    await analyzerQueue.upsertJobScheduler(
      ANALYZE_SCHEDULER_ID,
      { every: config.KILN_ANALYZER_INTERVAL_SECONDS * 1000 },
      { name: ANALYZE_JOB, data: { trigger: 'schedule' }, opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } },
    );
  } else {
    await analyzerQueue.removeJobScheduler(ANALYZE_SCHEDULER_ID);
  }
  return {
    worker,
    async close() {
      await worker.close();
      await Promise.all([buildQueue.close(), analyzerQueue.close()]);
    },
  };
}

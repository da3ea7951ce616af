// Starts the api on an opened infrastructure: the build queue producer and the fastify app, listening.
import { Queue, QueueEvents } from 'bullmq';
import { once } from 'node:events';
import type { FastifyInstance } from 'fastify';
import type { Infrastructure } from '../core/infrastructure.ts';
import { ANALYZER_QUEUE, BUILD_QUEUE, type AnalyzeJob, type BuildJob } from '../core/queues.ts';
import { buildApp } from './app.ts';

export interface RunningApi {
  app: FastifyInstance;
  url: string;
  buildQueue: Queue<BuildJob>;
  /** Stops accepting requests, then closes the queue producer. */
  close(): Promise<void>;
}

export async function startApi(infra: Infrastructure, listen: { host: string; port: number }): Promise<RunningApi> {
  const buildQueue = new Queue<BuildJob>(BUILD_QUEUE, { connection: infra.redis('producer'), prefix: infra.config.KILN_QUEUE_PREFIX });
  buildQueue.on('error', (err) => infra.log.error({ err }, 'build queue error'));
  await buildQueue.waitUntilReady();
  const analyzerQueue = new Queue<AnalyzeJob>(ANALYZER_QUEUE, { connection: infra.redis('producer'), prefix: infra.config.KILN_QUEUE_PREFIX });
  analyzerQueue.on('error', (err) => infra.log.error({ err }, 'analyzer queue error'));
  const analyzerEvents = new QueueEvents(ANALYZER_QUEUE, { connection: infra.redis('worker'), prefix: infra.config.KILN_QUEUE_PREFIX });
  analyzerEvents.on('error', (err) => infra.log.error({ err }, 'analyzer events error'));
  await analyzerEvents.waitUntilReady();
  // Its own connection: rate-limit counters and readiness pings must not queue behind BullMQ's commands.
  const redis = infra.redis('producer');
  if (redis.status !== 'ready') await once(redis, 'ready');
  const app = await buildApp({
    config: infra.config,
    log: infra.log,
    catalog: infra.catalog,
    db: infra.database.db,
    blobs: infra.blobs,
    buildQueue,
    redis,
    registry: infra.registry,
    analyzerQueue,
    analyzerEvents,
  });
  const address = await app.listen(listen);
  return {
    app,
    url: address,
    buildQueue,
    async close() {
      await app.close();
      await Promise.all([buildQueue.close(), analyzerQueue.close(), analyzerEvents.close()]);
    },
  };
}

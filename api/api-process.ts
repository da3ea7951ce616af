// Starts the api on an opened infrastructure: the build queue producer and the fastify app, listening.
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Infrastructure } from '../core/infrastructure.ts';
import { BUILD_QUEUE, type BuildJob } from '../core/queues.ts';
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
  const app = await buildApp({
    config: infra.config,
    log: infra.log,
    catalog: infra.catalog,
    db: infra.database.db,
    blobs: infra.blobs,
    buildQueue,
  });
  const address = await app.listen(listen);
  return {
    app,
    url: address,
    buildQueue,
    async close() {
      await app.close();
      await buildQueue.close();
    },
  };
}

// Starts a build worker on an opened infrastructure.
import type { Worker } from 'bullmq';
import { createBuildStore } from '../core/db/build-store.ts';
import type { Infrastructure } from '../core/infrastructure.ts';
import { createBuildWorker } from './build-worker.ts';

export interface RunningBuilder {
  worker: Worker;
  /** Stops taking jobs and waits for the active ones to finish. */
  close(): Promise<void>;
}

export async function startBuilder(infra: Infrastructure): Promise<RunningBuilder> {
  const { config } = infra;
  await infra.docker.ping();
  const worker = createBuildWorker({
    docker: infra.docker,
    blobs: infra.blobs,
    catalog: infra.catalog,
    builds: createBuildStore(infra.database.db),
    chooseBase: async (build) => build,
    registryAuth: {
      serveraddress: config.REGISTRY_HOST,
      ...(config.REGISTRY_USERNAME ? { username: config.REGISTRY_USERNAME, password: config.REGISTRY_PASSWORD } : {}),
    },
    log: infra.log.child({ component: 'builder' }),
    connection: infra.redis('worker'),
    prefix: config.KILN_QUEUE_PREFIX,
    concurrency: config.KILN_BUILD_CONCURRENCY,
  });
  await worker.waitUntilReady();
  return { worker, close: () => worker.close() };
}

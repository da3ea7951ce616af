// Starts a build worker on an opened infrastructure: builds and template builds, from one queue.
import { hostname } from 'node:os';
import type { Worker } from 'bullmq';
import { componentCosts } from '../analyzer/component-costs.ts';
import { chooseBase } from '../analyzer/template-choice.ts';
import { createBuildStore } from '../core/db/build-store.ts';
import { createTemplateStore } from '../core/db/template-store.ts';
import type { Infrastructure } from '../core/infrastructure.ts';
import { createBuildLog } from '../core/build-log.ts';
import { rootImageName } from '../core/build-planner.ts';
import { createRegistryClient } from '../core/registry-client.ts';
import { cancelKey, TEMPLATE_JOB } from '../core/queues.ts';
import { createBuildWorker } from './build-worker.ts';
import { publishRoots } from './docker-engine.ts';
import { createTemplateProcessor } from './template-build.ts';

export interface RunningBuilder {
  worker: Worker;
  /**
   * Stops taking jobs; active builds get `graceMs` (default KILN_SHUTDOWN_GRACE_SECONDS) to finish, then go back to
   * the queue for another builder.
   */
  close(graceMs?: number): Promise<void>;
}

export async function startBuilder(infra: Infrastructure): Promise<RunningBuilder> {
  const { config } = infra;
  await infra.docker.ping();
  const builds = createBuildStore(infra.database.db);
  const templates = createTemplateStore(infra.database.db);
  const costs = async () => componentCosts(infra.catalog, await templates.costSamples(20));
  const registryAuth = {
    serveraddress: config.REGISTRY_HOST,
    ...(config.REGISTRY_USERNAME ? { username: config.REGISTRY_USERNAME, password: config.REGISTRY_PASSWORD } : {}),
  };
  const log = infra.log.child({ component: 'builder' });
  const roots = {
    host: config.REGISTRY_HOST,
    prefix: config.REGISTRY_PREFIX,
    registry: createRegistryClient({
      host: config.REGISTRY_HOST,
      insecure: config.REGISTRY_INSECURE,
      ...(config.REGISTRY_USERNAME ? { username: config.REGISTRY_USERNAME, password: config.REGISTRY_PASSWORD ?? '' } : {}),
    }),
  };
  const producer = infra.redis('producer');

  const worker = createBuildWorker({
    docker: infra.docker,
    blobs: infra.blobs,
    catalog: infra.catalog,
    builds,
    logs: createBuildLog({ redis: infra.redis('worker'), blobs: infra.blobs, prefix: config.KILN_QUEUE_PREFIX }),
    cancelRequested: async (buildId) => (await producer.exists(cancelKey(config.KILN_QUEUE_PREFIX, buildId))) === 1,
    builderName: `${hostname()}:${process.pid}`,
    timeouts: { defaultSeconds: config.KILN_BUILD_TIMEOUT_SECONDS, maxSeconds: config.KILN_BUILD_TIMEOUT_MAX_SECONDS },
    // The template is chosen when the build starts, from the templates ready then (never a stale one).
    async chooseBase(build) {
      const ready = (await templates.list(['ready'])).filter((t) => t.digest);
      const base = chooseBase(
        { root: build.plan.root.name, rootImage: build.plan.root.image, components: build.plan.components },
        ready.map((t) => ({ id: t.id, root: t.root, imageRef: t.imageRef, digest: t.digest!, components: t.components })),
        await costs(),
      );
      return builds.setBase(build.id, { ...build.plan, base });
    },
    extraHandlers: {
      [TEMPLATE_JOB]: createTemplateProcessor({
        docker: infra.docker,
        catalog: infra.catalog,
        templates,
        registryAuth,
        roots,
        rootImagePrefix: config.KILN_ROOT_IMAGE_PREFIX,
        costs,
        log,
      }),
    },
    registryAuth,
    roots,
    log,
    connection: infra.redis('worker'),
    prefix: config.KILN_QUEUE_PREFIX,
    concurrency: config.KILN_BUILD_CONCURRENCY,
    lockSeconds: config.KILN_BUILD_LOCK_SECONDS,
  });
  await worker.worker.waitUntilReady();

  // Multi-host: builders whose engines lack a root pull what this one publishes. In the background — a slow or
  // absent registry must not hold up (or stop) this builder; close() stops it.
  const publishing = new AbortController();
  const rootImages = [...infra.catalog.roots.keys()].map((root) => ({ root, image: rootImageName(config.KILN_ROOT_IMAGE_PREFIX, root) }));
  const published = publishRoots(infra.docker, rootImages, { auth: registryAuth, prefix: config.REGISTRY_PREFIX }, log, publishing.signal);
  return {
    worker: worker.worker,
    async close(graceMs = config.KILN_SHUTDOWN_GRACE_SECONDS * 1000) {
      publishing.abort();
      await Promise.all([published, worker.close(graceMs)]);
    },
  };
}

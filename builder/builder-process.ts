// Starts a build worker on an opened infrastructure: builds and template builds, from one queue.
import type { Worker } from 'bullmq';
import { componentCosts } from '../analyzer/component-costs.ts';
import { chooseBase } from '../analyzer/template-choice.ts';
import { createBuildStore } from '../core/db/build-store.ts';
import { createTemplateStore } from '../core/db/template-store.ts';
import type { Infrastructure } from '../core/infrastructure.ts';
import { TEMPLATE_JOB } from '../core/queues.ts';
import { createBuildWorker } from './build-worker.ts';
import { createTemplateProcessor } from './template-build.ts';

export interface RunningBuilder {
  worker: Worker;
  /** Stops taking jobs and waits for the active ones to finish. */
  close(): Promise<void>;
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

  const worker = createBuildWorker({
    docker: infra.docker,
    blobs: infra.blobs,
    catalog: infra.catalog,
    builds,
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
        rootImagePrefix: config.KILN_ROOT_IMAGE_PREFIX,
        costs,
        log,
      }),
    },
    registryAuth,
    log,
    connection: infra.redis('worker'),
    prefix: config.KILN_QUEUE_PREFIX,
    concurrency: config.KILN_BUILD_CONCURRENCY,
  });
  await worker.waitUntilReady();
  return { worker, close: () => worker.close() };
}

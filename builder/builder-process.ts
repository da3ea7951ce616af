// Starts a builder on an opened infrastructure: a root that no builder has yet pulled onto its engine
// (root-provision.ts), one worker on the build queue for builds and template builds, (in the background) the publishing
// of the roots its engine holds for builders on other hosts, and its own /healthz, /readyz and /metrics when
// KILN_OPS_PORT is set.
import { hostname } from 'node:os';
import { Queue, type Worker } from 'bullmq';
import { CLAIM_LEASE } from '../core/claim-lease.ts';
import { createBuildLog } from '../core/build-log.ts';
import { rootImageName } from '../core/build-planner.ts';
import { createBuildStore } from '../core/db/build-store.ts';
import { createTemplateStore } from '../core/db/template-store.ts';
import type { Infrastructure } from '../core/infrastructure.ts';
import { BUILD_QUEUE, cancelKey, type LayersJob } from '../core/queues.ts';
import { createCompositionStore } from '../core/db/composition-store.ts';
import { progressRecorder } from '../core/live-progress.ts';
import { createRegistryBlobs } from '../core/registry-blobs.ts';
import { createCompositionService, type CompositionDeps } from './composition-service.ts';
import type { LayerWork } from './layer-build.ts';
import { createBaseResolver } from './base-resolver.ts';
import { createBuildWorker } from './build-worker.ts';
import { publishRoots } from './docker-engine.ts';
import { createEngineLanes } from './engine-lanes.ts';
import { startOpsServer, processMetrics, type OpsServer } from '../core/ops-server.ts';
import { builderReadiness } from './builder-health.ts';
import { provisionRoots } from './root-provision.ts';

export interface RunningBuilder {
  worker: Worker;
  /**
   * Stops taking jobs; active builds and template builds get `graceMs` (default KILN_SHUTDOWN_GRACE_SECONDS) to
   * finish, then go back to the queue for another builder.
   */
  close(graceMs?: number): Promise<void>;
}

export async function startBuilder(infra: Infrastructure): Promise<RunningBuilder> {
  const { config } = infra;
  await infra.docker.ping();
  const templates = createTemplateStore(infra.database.db);
  const log = infra.log.child({ component: 'builder' });
  const producer = infra.redis('producer');
  const rootImages = [...infra.catalog.roots.values()].map((r) => ({
    root: r.name,
    image: rootImageName(config.KILN_ROOT_IMAGE_PREFIX, r.name),
    ...(r.pull ? { pull: r.pull } : {}),
  }));
  // Before the first build: a build that installs FROM a root nobody has would fail for that reason alone.
  await provisionRoots(
    {
      docker: infra.docker,
      registry: { auth: infra.registryAuth, roots: { host: config.REGISTRY_HOST, prefix: config.REGISTRY_PREFIX, registry: infra.registry } },
      ...(config.KILN_ROOT_PULL_MIRROR ? { mirror: config.KILN_ROOT_PULL_MIRROR } : {}),
      log,
    },
    rootImages,
  );
  // Builds FROM a root wait for this builder's publishing of its roots (started below), so their labels can name it.
  let rootsPublished!: () => void;
  const published = new Promise<void>((resolve) => (rootsPublished = resolve));
  const pipeline = {
    docker: infra.docker,
    lanes: createEngineLanes(),
    registryAuth: infra.registryAuth,
    roots: { host: config.REGISTRY_HOST, prefix: config.REGISTRY_PREFIX, registry: infra.registry, published },
  };
  const bases = createBaseResolver({ catalog: infra.catalog, templates });
  const composition: CompositionDeps = {
    ...pipeline,
    catalog: infra.catalog,
    store: createCompositionStore(infra.database.db),
    s3: infra.blobs,
    blobs: createRegistryBlobs(infra.registry.transport),
    registry: infra.registry,
    host: config.REGISTRY_HOST,
    prefix: config.REGISTRY_PREFIX,
    rootImagePrefix: config.KILN_ROOT_IMAGE_PREFIX,
    log,
  };
  const compositions = createCompositionService(composition);
  // Layer builds and verifications are claimed with a one-minute lease renewed while they run (core/claim-lease.ts).
  const work = (appendLog: (text: string) => void, signal: AbortSignal): LayerWork => ({
    deps: composition,
    svc: compositions,
    lease: CLAIM_LEASE,
    appendLog,
    signal,
  });
  const buildQueue = new Queue<LayersJob>(BUILD_QUEUE, { connection: producer, prefix: config.KILN_QUEUE_PREFIX });
  buildQueue.on('error', (err) => log.error({ err }, 'build queue (producer) error'));

  const worker = createBuildWorker({
    builds: {
      ...pipeline,
      blobs: infra.blobs,
      catalog: infra.catalog,
      builds: createBuildStore(infra.database.db),
      bases,
      timeouts: { defaultSeconds: config.KILN_BUILD_TIMEOUT_SECONDS, maxSeconds: config.KILN_BUILD_TIMEOUT_MAX_SECONDS },
      progress: (buildId) => progressRecorder(producer, config.KILN_QUEUE_PREFIX, buildId, log),
      compose: {
        work,
        host: config.REGISTRY_HOST,
        route: {
          enabled: config.KILN_COMPOSITION,
          queue: buildQueue,
          retry: { attempts: config.KILN_BUILD_ATTEMPTS, backoffSeconds: config.KILN_BUILD_BACKOFF_SECONDS },
        },
      },
    },
    layers: { catalog: infra.catalog, work, timeoutSeconds: config.KILN_TEMPLATE_TIMEOUT_SECONDS },
    templates: {
      ...pipeline,
      catalog: infra.catalog,
      templates,
      store: templates,
      bases,
      rootImagePrefix: config.KILN_ROOT_IMAGE_PREFIX,
      timeoutSeconds: config.KILN_TEMPLATE_TIMEOUT_SECONDS,
    },
    logs: createBuildLog({ redis: infra.redis('worker'), blobs: infra.blobs, prefix: config.KILN_QUEUE_PREFIX }),
    cancelRequested: async (id) => (await producer.exists(cancelKey(config.KILN_QUEUE_PREFIX, id))) === 1,
    builderName: `${hostname()}:${process.pid}`,
    outageRetrySeconds: config.KILN_OUTAGE_RETRY_SECONDS,
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
  const publishingDone = publishRoots(infra.docker, rootImages, { auth: infra.registryAuth, prefix: config.REGISTRY_PREFIX }, log, publishing.signal);
  void publishingDone.finally(rootsPublished);

  let ops: OpsServer | undefined;
  if (config.KILN_OPS_PORT !== undefined) {
    ops = await startOpsServer({
      host: config.KILN_HOST,
      port: config.KILN_OPS_PORT,
      readiness: builderReadiness({
        db: infra.database.db,
        redis: producer,
        blobs: infra.blobs,
        docker: infra.docker,
        registry: infra.registry,
        prefix: config.REGISTRY_PREFIX,
        roots: rootImages,
      }),
      metrics: processMetrics(),
      log,
    });
    log.info({ url: ops.url }, 'builder health and metrics served');
  }
  return {
    worker: worker.worker,
    async close(graceMs = config.KILN_SHUTDOWN_GRACE_SECONDS * 1000) {
      // Health first: while it drains, the builder takes no new work, and says so by not answering.
      await ops?.close();
      publishing.abort();
      await Promise.all([publishingDone, worker.close(graceMs)]);
      await buildQueue.close();
    },
  };
}

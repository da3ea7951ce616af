// Builds the api as a fastify instance from its dependencies; listening and shutdown belong to the start file.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { createTokenService } from '../core/auth/token-service.ts';
import type { BlobStore } from '../core/blob-store.ts';
import { createBuildLog } from '../core/build-log.ts';
import { binaryBytesOf, type RequestedRoute } from '../core/build-types.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import type { Config } from '../core/config.ts';
import { createBuildStore } from '../core/db/build-store.ts';
import type { Db } from '../core/db/database.ts';
import { createIdempotencyStore } from '../core/db/idempotency-store.ts';
import { createMetricsStore } from '../core/db/metrics-store.ts';
import { createProjectStore } from '../core/db/project-store.ts';
import { createWebhookStore } from '../core/db/webhook-store.ts';
import { RateLimitedError } from '../core/errors.ts';
import type { RegistryClient } from '../core/registry-client.ts';
import { createUploadStore } from '../core/db/upload-store.ts';
import type { Logger } from '../core/logger.ts';
import type { AnalyzeJob, BuildJob } from '../core/queues.ts';
import { createTemplateStore } from '../core/db/template-store.ts';
import { createImageStore } from '../core/db/image-store.ts';
import { createImageDeletion } from '../core/images/image-deletion.ts';
import { imageRoutes } from './image-routes.ts';
import { retentionRoutes } from './retention-routes.ts';
import { analyzerRoutes } from './analyzer-routes.ts';
import { templateRoutes } from './template-routes.ts';
import { createTemplateService } from './template-service.ts';
import { buildRoutes } from './build-routes.ts';
import { componentRoutes } from './component-routes.ts';
import { compositionRoutes } from './composition-routes.ts';
import { createCompositionStore } from '../core/db/composition-store.ts';
import { createBuildPreview, requestOfPreview } from './build-preview.ts';
import { createEtaStore } from '../core/db/eta-store.ts';
import { createEtaService } from './eta-service.ts';
import { createBuildService } from './build-service.ts';
import { installAuth, PROJECT_HEADER } from './auth.ts';
import { installErrorHandler, sendProblem } from './error-handler.ts';
import { installExpectContinue } from './expect-continue.ts';
import { idleClockPausedWhileAnswering, idleClockResumesWithAnswer, serverTimeouts } from './http-timeouts.ts';
import { installInputHygiene } from './input-hygiene.ts';
import { documentProblemMediaType } from './openapi-document.ts';
import { createMetrics } from './metrics.ts';
import { opsRoutes } from './ops-routes.ts';
import { projectRoutes } from './project-routes.ts';
import { createProjectService } from './project-service.ts';
import { createReadiness } from './readiness.ts';
import { checkRouteDocumented, type RouteEntry } from './route-table.ts';
import { uploadRoutes } from './upload-routes.ts';
import { createUploadService } from './upload-service.ts';
import { webhookRoutes } from './webhook-routes.ts';
import { webRoutes } from './web-routes.ts';
import { createWebhookService } from './webhook-service.ts';

export interface ApiDeps {
  config: Config;
  log: Logger;
  catalog: Catalog;
  db: Db;
  blobs: BlobStore;
  buildQueue: Queue<BuildJob>;
  /** A producer connection (fails fast): per-token rate limits shared by every api process, and readiness. */
  redis: Redis;
  /** Readiness checks it; the image catalog deletes manifests through it. */
  registry: Pick<RegistryClient, 'check' | 'tags' | 'manifestDigest' | 'deleteManifest'>;
  analyzerQueue: Queue<AnalyzeJob>;
  /** Completion events of analyzer jobs, so POST /v1/analyzer/run can wait for its result. */
  analyzerEvents: QueueEvents;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route, as registered (for the OpenAPI completeness test and for operators). */
    readonly routeTable: readonly RouteEntry[];
  }
}

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Request ids go into every problem response, so a user can quote one.
    genReqId: () => crypto.randomUUID(),
    bodyLimit: 1024 * 1024,
    ...serverTimeouts(deps.config),
    // A URL that does not decode never reaches a route or the error handler: answer it as a problem too.
    frameworkErrors: (err, req, rawReply) => {
      void sendProblem(rawReply as unknown as FastifyReply, {
        status: 400,
        kind: 'bad-url',
        detail: err.message,
        requestId: req.id,
        problems: [{ field: 'url', message: 'is not a valid URL (bad percent-encoding or characters)' }],
      });
    },
  });
  // A client that asks before sending its body hears "continue" only once kiln reads it, not before a refusal.
  installExpectContinue(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app, { lingerMs: deps.config.KILN_HTTP_LINGER_SECONDS * 1000 });
  // Before any route: strict UTF-8 JSON, and no NUL or lone surrogate in any string (Postgres refuses both).
  installInputHygiene(app);
  const routeTable: RouteEntry[] = [];
  app.decorate('routeTable', routeTable);
  // The idle timeout runs while kiln waits for the client, never while the client waits for kiln (http-timeouts.ts):
  // from the first hook when the request has already wholly arrived (before auth's lookups), else once fastify has read
  // the body.
  app.addHook('onRequest', async (req) => idleClockPausedWhileAnswering(req));
  app.addHook('preValidation', async (req) => idleClockPausedWhileAnswering(req));
  app.addHook('onSend', async (req, _reply, payload) => {
    idleClockResumesWithAnswer(req);
    return payload;
  });
  app.addHook('onRoute', (route) => {
    // Refuse to start with an undocumented route: the OpenAPI document must list every one, with its schemas.
    for (const entry of checkRouteDocumented(route)) routeTable.push(entry);
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'kiln', description: 'Image build service with template caching', version: '0.1.0' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: `an API token; admin tokens may add ${PROJECT_HEADER}` } },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: (input) => documentProblemMediaType(jsonSchemaTransformObject(input)),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const uploads = createUploadStore(deps.db);
  const builds = createBuildStore(deps.db);
  const projectStore = createProjectStore(deps.db);
  const tokens = createTokenService({ store: projectStore, configAdminToken: deps.config.KILN_ADMIN_TOKEN });
  installAuth(app, { tokens, projects: projectStore });
  // Only routes that ask for it are limited (POST /v1/builds, per token); the counters live in Redis so every api
  // process shares them. Redis down: requests pass, and the build queue's own 503 speaks for it.
  await app.register(rateLimit, {
    global: false,
    redis: deps.redis,
    nameSpace: `${deps.config.KILN_QUEUE_PREFIX}:rate-limit:`,
    skipOnError: true,
    // Routes that set a limit say what it limits in their own errorResponseBuilder; this is the fallback.
    errorResponseBuilder: (_req, ctx) => new RateLimitedError(`rate limit reached (${ctx.max} requests); retry in ${ctx.after}`, Math.max(1, Math.ceil(ctx.ttl / 1000))),
  });

  const uploadService = createUploadService({
    blobs: deps.blobs,
    uploads,
    limitBytes: deps.config.KILN_UPLOAD_LIMIT_BYTES,
    log: deps.log,
  });
  const idempotency = createIdempotencyStore(deps.db);
  const buildLog = createBuildLog({ redis: deps.redis, blobs: deps.blobs, prefix: deps.config.KILN_QUEUE_PREFIX, log: deps.log });
  app.addHook('onClose', async () => buildLog.close());
  const compositionStore = createCompositionStore(deps.db);
  const preview = createBuildPreview({
    catalog: deps.catalog,
    compositions: compositionStore,
    templates: createTemplateStore(deps.db),
    composition: deps.config.KILN_COMPOSITION,
    rootImagePrefix: deps.config.KILN_ROOT_IMAGE_PREFIX,
  });
  const eta = createEtaService({
    store: createEtaStore(deps.db),
    catalog: deps.catalog,
    redis: deps.redis,
    queuePrefix: deps.config.KILN_QUEUE_PREFIX,
    concurrency: deps.config.KILN_BUILD_CONCURRENCY,
    log: deps.log,
  });
  const buildService = createBuildService({
    // The route a queued build will most likely take is the preview's: the same records the builder reads.
    estimate: async (build, position, ahead) =>
      eta.submit(
        requestOfPreview(build.plan.root.name, await preview(build.plan.root.name, build.plan.components.map((c) => c.key), build.plan.route), binaryBytesOf(build.plan.binary)),
        position,
        ahead,
      ),
    catalog: deps.catalog,
    builds,
    uploads,
    idempotency,
    queue: deps.buildQueue,
    logs: buildLog,
    redis: deps.redis,
    config: deps.config,
    log: deps.log,
  });
  const webhooks = createWebhookService({ store: createWebhookStore(deps.db), builds: buildService, log: deps.log });
  const readiness = createReadiness({
    db: deps.db,
    redis: deps.redis,
    blobs: deps.blobs,
    registry: deps.registry,
  });

  await app.register(opsRoutes, { readiness, metrics: createMetrics({ store: createMetricsStore(deps.db), queue: deps.buildQueue, log: deps.log }) });
  await app.register(projectRoutes, { projects: createProjectService({ store: projectStore }), tokens, store: projectStore });
  await app.register(uploadRoutes, { uploads: uploadService, limitBytes: deps.config.KILN_UPLOAD_LIMIT_BYTES });
  const estimatedPreview = async (root: string, components: string[], binaryBytes: number | null, route?: RequestedRoute) => {
    const p = await preview(root, components, route);
    const req = requestOfPreview(root, p, binaryBytes);
    // A build submitted now waits behind every build waiting now.
    const { waiting } = await buildService.queueCounts();
    const ahead = waiting > 0 ? await buildService.queueAhead() : undefined;
    const [submit, run] = await Promise.all([eta.submit(req, waiting > 0 ? waiting + 1 : null, ahead), eta.run(req)]).catch((err: unknown) => {
      deps.log.warn({ err }, 'could not estimate a preview');
      return [null, null] as const;
    });
    return { ...p, estimate: submit && run ? { ...submit, steps: run.steps.map((x) => ({ kind: x.kind, component: x.component, seconds: x.seconds })) } : null };
  };
  await app.register(buildRoutes, {
    builds: buildService,
    preview: estimatedPreview,
    progress: (build, steps, position) => eta.progress(build, steps, position, { templateBytes: null, ahead: () => buildService.queueAhead(build) }),
    rateLimitPerMinute: deps.config.KILN_BUILD_RATE_LIMIT,
  });
  await app.register(webhookRoutes, { webhooks, publicUrl: deps.config.KILN_PUBLIC_URL, rateLimitPerMinute: deps.config.KILN_BUILD_RATE_LIMIT });
  await app.register(componentRoutes, { catalog: deps.catalog });
  const templates = createTemplateStore(deps.db);
  const templateService = createTemplateService({
    templates,
    queue: deps.buildQueue,
    redis: deps.redis,
    logs: buildLog,
    queuePrefix: deps.config.KILN_QUEUE_PREFIX,
    log: deps.log,
  });
  await app.register(templateRoutes, { templates, service: templateService });
  await app.register(analyzerRoutes, { templates, analyzerQueue: deps.analyzerQueue, analyzerEvents: deps.analyzerEvents });
  const images = createImageStore(deps.db);
  const deletion = createImageDeletion({ images, registry: deps.registry, registryPrefix: deps.config.REGISTRY_PREFIX, log: deps.log });
  await app.register(imageRoutes, { images, deletion });
  await app.register(retentionRoutes, { images, projects: projectStore, deletion });
  await app.register(compositionRoutes, { store: compositionStore });
  await app.register(webRoutes);
  return app;
}

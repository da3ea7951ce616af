// Builds the api as a fastify instance from its dependencies; listening and shutdown belong to the start file.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Queue } from 'bullmq';
import type { BlobStore } from '../core/blob-store.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import type { Config } from '../core/config.ts';
import { createBuildStore } from '../core/db/build-store.ts';
import type { Db } from '../core/db/database.ts';
import { createUploadStore } from '../core/db/upload-store.ts';
import type { Logger } from '../core/logger.ts';
import type { BuildJob } from '../core/queues.ts';
import { buildRoutes } from './build-routes.ts';
import { componentRoutes } from './component-routes.ts';
import { createBuildService } from './build-service.ts';
import { installErrorHandler } from './error-handler.ts';
import { uploadRoutes } from './upload-routes.ts';
import { createUploadService } from './upload-service.ts';

export interface ApiDeps {
  config: Config;
  log: Logger;
  catalog: Catalog;
  db: Db;
  blobs: BlobStore;
  buildQueue: Queue<BuildJob>;
}

/** Until projects and tokens exist, everything belongs to one project. */
const DEFAULT_PROJECT = 'default';

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Request ids go into every problem response, so a user can quote one.
    genReqId: () => crypto.randomUUID(),
    bodyLimit: 1024 * 1024,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);

  await app.register(swagger, {
    openapi: { info: { title: 'kiln', description: 'Image build service with template caching', version: '0.1.0' } },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const uploads = createUploadStore(deps.db);
  const builds = createBuildStore(deps.db);
  const project = () => DEFAULT_PROJECT;

  const uploadService = createUploadService({
    blobs: deps.blobs,
    uploads,
    limitBytes: deps.config.KILN_UPLOAD_LIMIT_BYTES,
    log: deps.log,
  });
  const buildService = createBuildService({
    catalog: deps.catalog,
    builds,
    uploads,
    queue: deps.buildQueue,
    blobs: deps.blobs,
    config: deps.config,
    log: deps.log,
  });

  await app.register(uploadRoutes, { uploads: uploadService, project });
  await app.register(buildRoutes, { builds: buildService, project });
  await app.register(componentRoutes, { catalog: deps.catalog });
  return app;
}

// Accepts a build request: plans it (listing every problem), records it and enqueues it; reads builds back.
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { BlobStore } from '../core/blob-store.ts';
import { planBuild } from '../core/build-planner.ts';
import type { BuildSpec } from '../core/build-types.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import type { Config } from '../core/config.ts';
import type { BuildStore } from '../core/db/build-store.ts';
import type { UploadStore } from '../core/db/upload-store.ts';
import { NotFoundError, UnavailableError, ValidationError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { BUILD_JOB, buildJobOptions, type BuildJob } from '../core/queues.ts';
import { buildLogKey } from '../core/build-log.ts';

export interface BuildServiceDeps {
  catalog: Catalog;
  builds: BuildStore;
  uploads: Pick<UploadStore, 'get'>;
  queue: Pick<Queue<BuildJob>, 'add'>;
  blobs: Pick<BlobStore, 'getText'>;
  config: Pick<Config, 'REGISTRY_HOST' | 'REGISTRY_PREFIX' | 'KILN_ROOT_IMAGE_PREFIX' | 'KILN_BUILD_ATTEMPTS'>;
  log: Logger;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createBuildService(deps: BuildServiceDeps) {
  const get = async (project: string, id: string) => {
    const build = uuidPattern.test(id) ? await deps.builds.get(id, project) : undefined;
    if (!build) throw new NotFoundError(`no build "${id}"`);
    return build;
  };

  return {
    async create(project: string, spec: BuildSpec) {
      const upload = uuidPattern.test(spec.uploadId) ? await deps.uploads.get(project, spec.uploadId) : undefined;
      const result = planBuild(spec, {
        catalog: deps.catalog,
        upload,
        registryHost: deps.config.REGISTRY_HOST,
        registryPrefix: deps.config.REGISTRY_PREFIX,
        rootImagePrefix: deps.config.KILN_ROOT_IMAGE_PREFIX,
      });
      if (!result.ok) throw new ValidationError(result.problems);

      const id = randomUUID();
      const build = await deps.builds.insert({ id, project, spec, plan: result.plan, imageRef: result.plan.imageRef });
      try {
        await deps.queue.add(BUILD_JOB, { buildId: id }, buildJobOptions(id, deps.config.KILN_BUILD_ATTEMPTS));
      } catch (err) {
        // A row without a job would sit in `queued` forever: end it, and tell the caller to try again.
        deps.log.error({ err, buildId: id }, 'could not enqueue build');
        await deps.builds.finish(id, { status: 'failed', error: 'could not enqueue the build (queue unavailable); nothing was built' });
        throw new UnavailableError('the build queue is unavailable; try again shortly');
      }
      deps.log.info({ buildId: id, image: result.plan.imageRef }, 'build queued');
      return build;
    },

    async get(project: string, id: string) {
      const build = await get(project, id);
      return { build, steps: await deps.builds.steps(id) };
    },

    async log(project: string, id: string): Promise<{ status: string; text: string }> {
      const build = await get(project, id);
      return { status: build.status, text: (await deps.blobs.getText(buildLogKey(id))) ?? '' };
    },
  };
}

export type BuildService = ReturnType<typeof createBuildService>;

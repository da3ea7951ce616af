// The build job: a user's build through the one image pipeline. Parses the payload, claims the build once per
// attempt (a re-delivered job of an ended build does nothing), renders its plan and records the outcome.
import { UnrecoverableError } from 'bullmq';
import type { BlobStore } from '../core/blob-store.ts';
import type { BuildPlan } from '../core/build-types.ts';
import { changedRecipes, currentRecipeHashes, type Catalog, type ComponentVersion } from '../core/catalog/catalog.ts';
import type { BuildStore } from '../core/db/build-store.ts';
import type { BuildRow } from '../core/db/schema/builds.ts';
import { buildJobSchema, type JobHandler } from '../core/queues.ts';
import type { BaseResolver } from './base-resolver.ts';
import { BuildFailure, isTransient } from './build-errors.ts';
import { renderDockerfile } from './dockerfile-render.ts';
import { imageLabels } from '../core/image-labels.ts';
import { produceImage, uploadOpener, type PipelineDeps, type ProducedImage } from './image-pipeline.ts';
import type { JobLifecycle } from './job-lifecycle.ts';

export interface BuildJobDeps extends PipelineDeps {
  blobs: Pick<BlobStore, 'getStream'>;
  catalog: Catalog;
  builds: BuildStore;
  bases: BaseResolver;
  timeouts: { defaultSeconds: number; maxSeconds: number };
}

/** The catalog entries the plan names, refusing to build from a recipe other than the one the plan recorded. */
export function planVersions(catalog: Catalog, plan: Pick<BuildPlan, 'components'>): ComponentVersion[] {
  const changed = changedRecipes(plan.components, currentRecipeHashes(catalog));
  if (changed.length > 0) {
    throw new BuildFailure(`the recipe of ${changed.join(', ')} changed (or left the catalog) after this was planned; submit it again`, false);
  }
  return plan.components.map((c) => catalog.components.get(c.name)!.versions.get(c.version)!);
}

/** Runs one planned build through the pipeline (the base is chosen by the caller, right before). */
export function runBuild(deps: BuildJobDeps, build: Pick<BuildRow, 'id' | 'spec' | 'plan'>, appendLog: (text: string) => void, signal: AbortSignal): Promise<ProducedImage> {
  const { plan } = build;
  const rendered = renderDockerfile(plan, planVersions(deps.catalog, plan));
  appendLog(`kiln: building ${plan.imageRef} from ${plan.base.image} with ${plan.components.map((c) => c.key).join(', ') || 'no components'}\n`);
  return produceImage(
    deps,
    {
      base: plan.base.kind === 'template' ? plan.base : { kind: 'root', image: plan.base.image, root: plan.root.name },
      rendered,
      openUpload: uploadOpener((key, s) => deps.blobs.getStream(key, s), plan.binary, isTransient),
      ref: plan.imageRef,
      labels: (base) => imageLabels(build, base, new Date()),
      keepImage: false,
    },
    appendLog,
    signal,
  );
}

export function buildJobHandler(deps: BuildJobDeps, lifecycle: JobLifecycle): JobHandler {
  return async (job, token) => {
    const parsed = buildJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`malformed build job ${job.id}: ${parsed.error.message}`);
    const { buildId } = parsed.data;
    const found = await deps.builds.get(buildId);
    if (!found) throw new UnrecoverableError(`build ${buildId} does not exist`);
    // Idempotent: a re-delivered job for a build that already ended (or was canceled while queued) does nothing.
    if (!(await deps.builds.markRunning(buildId, job.attemptsMade + 1))) return { skipped: found.status };

    const outcome = await lifecycle.runAttempt(job, token, {
      noun: 'build',
      id: buildId,
      timeoutSeconds: Math.min(found.spec.timeoutSeconds ?? deps.timeouts.defaultSeconds, deps.timeouts.maxSeconds),
      async run(signal, appendLog) {
        // The template is chosen when the build starts, from the templates ready then (never a stale one).
        const base = await deps.bases.choose({ root: found.plan.root.name, rootImage: found.plan.root.image, components: found.plan.components });
        const build = await deps.builds.setBase(buildId, { ...found.plan, base });
        const image = await runBuild(deps, build, appendLog, signal);
        const hashes = new Map(build.plan.components.map((c) => [c.key, c.recipeHash]));
        return {
          image,
          steps: image.steps.map((s, position) => ({ position, component: s.owner, recipeHash: hashes.get(s.owner) ?? null, seconds: s.seconds, cached: s.cached })),
        };
      },
      succeeded: ({ image, steps }) => deps.builds.finish(buildId, { status: 'succeeded', digest: image.digest, imageId: image.imageId, steps }),
      canceled: () => deps.builds.finish(buildId, { status: 'canceled', error: 'canceled by a user' }),
      failed: (error) => deps.builds.finish(buildId, { status: 'failed', error }),
      requeued: async () => void (await deps.builds.requeue(buildId)),
    });
    return 'result' in outcome ? { digest: outcome.result.image.digest } : outcome;
  };
}

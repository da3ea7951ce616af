// The build job: a user's build through the one image pipeline. Parses the payload, claims the build once per
// attempt (a re-delivered job of an ended build does nothing), renders its plan and records the outcome.
import { UnrecoverableError } from 'bullmq';
import type { BlobStore } from '../core/blob-store.ts';
import { binaryBytesOf, type BuildPlan } from '../core/build-types.ts';
import { changedRecipes, currentRecipeHashes, type Catalog, type ComponentVersion } from '../core/catalog/catalog.ts';
import type { BuildStore, NewBuildStep } from '../core/db/build-store.ts';
import type { BuildRow } from '../core/db/schema/builds.ts';
import type { LiveStep, ProgressRecorder } from '../core/live-progress.ts';
import { buildJobSchema, type JobHandler } from '../core/queues.ts';
import type { BaseResolver } from './base-resolver.ts';
import { BuildFailure, isTransient } from './build-errors.ts';
import { chooseRoute, composeBuild, composedBase, type Route, type RouteDeps } from './build-route.ts';
import type { LayerWork } from './layer-build.ts';
import { renderDockerfile } from './dockerfile-render.ts';
import { imageLabels } from '../core/image-labels.ts';
import { produceImage, uploadOpener, type PipelineDeps, type ProducedImage } from './image-pipeline.ts';
import type { JobLifecycle } from './job-lifecycle.ts';
import type { OutageRetry } from './outage-retry.ts';
import { checkInstalledImage } from './final-check.ts';
import { BINARY_NAME } from '../core/composition/binary-placement.ts';

export interface BuildJobDeps extends PipelineDeps {
  blobs: Pick<BlobStore, 'getStream'>;
  catalog: Catalog;
  builds: BuildStore;
  bases: BaseResolver;
  timeouts: { defaultSeconds: number; maxSeconds: number };
  /** Composition: the layer work of one attempt, and how a build's route is chosen. */
  compose: { work(appendLog: (text: string) => void, signal: AbortSignal): LayerWork; route: RouteDeps; host: string };
  /** Where an attempt tells watchers which step it is on (core/live-progress.ts). */
  progress(buildId: string): ProgressRecorder;
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
export function runBuild(
  deps: BuildJobDeps,
  build: Pick<BuildRow, 'id' | 'spec' | 'plan'>,
  appendLog: (text: string) => void,
  signal: AbortSignal,
  onStep?: (step: LiveStep) => void,
  retry?: OutageRetry,
): Promise<ProducedImage> {
  const { plan } = build;
  const rendered = renderDockerfile(plan, planVersions(deps.catalog, plan));
  const open = uploadOpener((key, s) => deps.blobs.getStream(key, s), plan.binary, isTransient);
  // What the COPY writes, for the final check: the file (at the path, or inside it when it is a directory), or the
  // archive's entries, learned as they are re-packed into the context.
  const written: string[] = plan.binary.kind === 'tar' ? [] : [plan.binary.path, `${plan.binary.path}/${BINARY_NAME}`];
  appendLog(`kiln: building ${plan.imageRef} from ${plan.base.image} with ${plan.components.map((c) => c.key).join(', ') || 'no components'}\n`);
  return produceImage(
    deps,
    {
      base: plan.base.kind === 'template' ? plan.base : { kind: 'root', image: plan.base.image, root: plan.root.name },
      rendered,
      openUpload: async (s) => ({ ...(await open(s)), onEntry: (p: string) => written.push(`${plan.binary.path}/${p}`) }),
      check: (imageId, s) => checkInstalledImage(deps.docker, imageId, { entrypoint: plan.entrypoint, cmd: plan.cmd, env: [] }, written, s),
      ref: plan.imageRef,
      labels: (base) => imageLabels(build, base, new Date()),
      keepImage: false,
      ...(onStep ? { onStep } : {}),
      ...(retry ? { retry } : {}),
    },
    appendLog,
    signal,
  );
}

/** A composed build's steps: each component a prebuilt layer, the verification if this build paid it, the assembly. */
function composedSteps(route: Extract<Route, { kind: 'composed' }>, assembleSeconds: number, binaryBytes: number): NewBuildStep[] {
  const steps: Omit<NewBuildStep, 'position'>[] = [
    ...route.layers.map((l) => ({ component: l.componentKey, recipeHash: l.row.recipeHash, seconds: 0, cached: true, kind: 'layer' as const })),
    ...(route.verifiedNow ? [{ component: 'verify', recipeHash: null, seconds: route.verifySeconds, cached: false, kind: 'verify' as const }] : []),
    { component: 'binary', recipeHash: null, seconds: assembleSeconds, cached: false, kind: 'assemble' as const, bytes: binaryBytes },
  ];
  return steps.map((s, position) => ({ ...s, position }));
}

/** An installed build's steps: the pull it waited for (if any), each plan step with its layer's bytes, the push. */
function installedSteps(image: ProducedImage, hashes: Map<string, string>): NewBuildStep[] {
  const steps: Omit<NewBuildStep, 'position'>[] = [
    ...(image.pull ? [{ component: 'pull', recipeHash: null, seconds: image.pull.seconds, cached: false, kind: 'pull' as const, bytes: image.pull.bytes }] : []),
    ...image.steps.map((s) => ({
      component: s.owner,
      recipeHash: hashes.get(s.owner) ?? null,
      seconds: s.seconds,
      cached: s.cached,
      kind: s.cached ? ('cache' as const) : ('install' as const),
      bytes: s.bytes ?? null,
    })),
    { component: 'push', recipeHash: null, seconds: image.push.seconds, cached: false, kind: 'push' as const, bytes: image.push.bytes },
  ];
  return steps.map((s, position) => ({ ...s, position }));
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
      async run(signal, appendLog, retry) {
        // The route (composed or installed) and the template are chosen when the build starts, from the layers and
        // templates there are then (never a stale one).
        const work = { ...deps.compose.work(appendLog, signal), retry };
        const progress = deps.progress(buildId);
        const route = await chooseRoute(work, deps.compose.route, found.plan, () => progress.step({ kind: 'verify', component: 'verify' }));
        if (route.kind === 'composed') {
          const saved = await deps.bases.savings(route.layers.map((l) => l.componentKey));
          const build = await deps.builds.setBase(buildId, { ...found.plan, base: composedBase(route, saved, deps.compose.host) });
          progress.step({ kind: 'assemble', component: 'binary' });
          const image = await composeBuild({ ...work, uploads: deps.blobs }, build, route);
          await progress.end();
          return { image, steps: composedSteps(route, image.seconds, binaryBytesOf(build.plan.binary)), cacheSaved: undefined };
        }
        appendLog(`kiln: installing: ${route.reason}\n`);
        const base = await deps.bases.choose({ root: found.plan.root.name, rootImage: found.plan.root.image, components: found.plan.components });
        const build = await deps.builds.setBase(buildId, { ...found.plan, base });
        const image = await runBuild(deps, build, appendLog, signal, (s) => progress.step(s), retry);
        await progress.end();
        // What the engine's layer cache spared: the cached steps' install costs, less what the cached steps still took.
        const cached = image.steps.filter((s) => s.cached && s.owner !== 'binary');
        const priced = await deps.bases.savings(cached.map((s) => s.owner));
        const cacheSaved = { seconds: Math.max(0, priced.seconds - cached.reduce((n, s) => n + s.seconds, 0)), estimated: priced.estimated };
        return { image, steps: installedSteps(image, new Map(build.plan.components.map((c) => [c.key, c.recipeHash]))), cacheSaved };
      },
      succeeded: ({ image, steps, cacheSaved }) =>
        deps.builds.finish(buildId, { status: 'succeeded', digest: image.digest, imageId: image.imageId, steps, ...(cacheSaved ? { cacheSaved } : {}) }),
      canceled: () => deps.builds.finish(buildId, { status: 'canceled', error: 'canceled by a user' }),
      failed: (error) => deps.builds.finish(buildId, { status: 'failed', error }),
      requeued: async () => void (await deps.builds.requeue(buildId)),
    });
    return 'result' in outcome ? { digest: outcome.result.image.digest } : outcome;
  };
}

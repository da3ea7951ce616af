// Runs one build attempt: plan → Dockerfile → context tar (binary from S3) → engine build → push. Returns what to
// record; throws BuildFailure saying what went wrong and whether a retry could help.
import type Docker from 'dockerode';
import type { BlobStore } from '../core/blob-store.ts';
import type { BuildPlan } from '../core/build-types.ts';
import type { Catalog, ComponentVersion } from '../core/catalog/catalog.ts';
import { BuildFailure, isTransient, stepFailed } from './build-errors.ts';
import { BuildProgress, type StepTiming } from './build-progress.ts';
import { buildContext } from './build-context.ts';
import { renderDockerfile } from './dockerfile-render.ts';
import { buildImage, ensureBaseImage, pushImage, removeBuiltImage, splitImageRef, type PublishedRoots, type RegistryAuth } from './docker-engine.ts';
import { imageLabels } from './image-labels.ts';

export interface BuildRunnerDeps {
  docker: Docker;
  blobs: Pick<BlobStore, 'getStream'>;
  catalog: Catalog;
  registryAuth: RegistryAuth;
  /** Where a root this engine lacks is pulled from. */
  roots: PublishedRoots;
}

export interface BuildOutcome {
  digest: string;
  imageId: string;
  steps: (StepTiming & { recipeHash: string | null })[];
}

/** The catalog entries the plan names, refusing to build from a recipe other than the one the plan recorded. */
export function planVersions(catalog: Catalog, plan: Pick<BuildPlan, 'components'>): ComponentVersion[] {
  return plan.components.map((c) => {
    const v = catalog.components.get(c.name)?.versions.get(c.version);
    if (!v) throw new BuildFailure(`${c.key} is no longer in the catalog`, false);
    if (v.recipeHash !== c.recipeHash) {
      throw new BuildFailure(`the recipe of ${c.key} changed after this build was planned; submit the build again`, false);
    }
    return v;
  });
}

/** Engine errors that say the engine, not the step, failed. */
const engineFault = /failed to create endpoint|no such network interface|failed to create shim|OCI runtime create failed/i;

export async function runBuild(
  deps: BuildRunnerDeps,
  build: { id: string; plan: BuildPlan },
  appendLog: (text: string) => void,
  signal: AbortSignal = new AbortController().signal,
): Promise<BuildOutcome> {
  const { plan } = build;
  const versions = planVersions(deps.catalog, plan);
  const rendered = renderDockerfile(plan, versions);
  appendLog(`kiln: building ${plan.imageRef} from ${plan.base.image} with ${plan.components.map((c) => c.key).join(', ') || 'no components'}\n`);

  let binary;
  try {
    binary = await deps.blobs.getStream(plan.binary.s3Key);
  } catch (err) {
    signal.throwIfAborted();
    throw new BuildFailure(`could not read the upload from S3: ${(err as Error).message}`, isTransient(err), { cause: err });
  }

  await ensureBaseImage(
    deps.docker,
    plan.base.kind === 'template' ? plan.base : { kind: 'root', image: plan.base.image, root: plan.root.name },
    { auth: deps.registryAuth, roots: deps.roots },
  );
  signal.throwIfAborted();
  const progress = new BuildProgress(rendered.instructions);
  await buildImage(
    deps.docker,
    buildContext(rendered, { ...plan.binary, stream: binary }),
    { tag: plan.imageRef, labels: imageLabels(build.id, plan), signal },
    (ev) => appendLog(progress.onEvent(ev, Date.now())),
  );
  const steps = progress.finish(Date.now());
  if (progress.error) {
    const owner = steps.at(-1)?.owner;
    const message = `${owner ? `step ${owner} failed: ` : ''}${progress.error}`;
    // The engine could not even start the step's container (its network or runtime is broken): not the recipe's fault.
    if (engineFault.test(progress.error)) throw new BuildFailure(`the Docker engine could not run a step: ${message}`, true);
    throw stepFailed(message);
  }
  if (!progress.imageId) throw new BuildFailure('the engine finished the build without reporting an image id', true);

  // Past this point a cancel still stops the push; once the registry holds the manifest the build has succeeded.
  const imageId = progress.imageId;
  let digest: string;
  try {
    signal.throwIfAborted();
    appendLog(`kiln: pushing ${plan.imageRef}\n`);
    const { repository, tag } = splitImageRef(plan.imageRef);
    digest = await pushImage(
      deps.docker,
      { repository, tag, registry: deps.registryAuth.serveraddress },
      deps.registryAuth,
      (ev) => {
        if (ev.status && !ev.status.startsWith('Pushing')) appendLog(`${ev.id ? `${ev.id}: ` : ''}${ev.status}\n`);
      },
      signal,
    );
    appendLog(`kiln: pushed ${plan.imageRef}@${digest}\n`);
  } finally {
    // Pushed or not, the engine keeps only the components' layers: a retry rebuilds the user's steps from the
    // cache in a second, and a build that ended (failed, canceled) leaves nothing of its own behind.
    await removeBuiltImage(deps.docker, plan.imageRef, imageId, progress.binaryStepImages()).catch((err: unknown) =>
      appendLog(`kiln: could not remove the built image from the engine (it keeps it): ${(err as Error).message}\n`),
    );
  }

  const hashes = new Map(plan.components.map((c) => [c.key, c.recipeHash]));
  return { digest, imageId: progress.imageId, steps: steps.map((s) => ({ ...s, recipeHash: hashes.get(s.owner) ?? null })) };
}

// Builds an image of catalog components exactly the way kiln does (its plan shape, renderer, context and engine calls),
// and runs a component's smoke script inside it. Used to prove that every catalog version really installs and works.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { runContainer } from './docker-run.ts';
import { rootImageName } from '../../core/build-planner.ts';
import type { BuildPlan } from '../../core/build-types.ts';
import type { ComponentVersion } from '../../core/catalog/catalog.ts';
import { buildContext } from '../../builder/build-context.ts';
import { BuildProgress, type EngineEvent, type StepTiming } from '../../builder/build-progress.ts';
import { buildImage } from '../../builder/docker-engine.ts';
import { renderDockerfile } from '../../builder/dockerfile-render.ts';

/** The prefix kiln's local stack gives root images (`kiln-root:debian-bookworm`). */
export const ROOT_IMAGE_PREFIX = 'kiln-root';

/** A unique tag under kiln-smoke-test/, e.g. `kiln-smoke-test/cuda-11.8:3f9c…`; `label` must be a valid path part. */
export function smokeImageTag(label: string): string {
  return `kiln-smoke-test/${label}:${randomBytes(6).toString('hex')}`;
}

export interface ComponentImage {
  tag: string;
  imageId: string;
  dockerfile: string;
  /** Seconds per component (and `binary`), as the engine's step lines show them; `cached` when every step was. */
  steps: StepTiming[];
  seconds: number;
}

/** The last `n` lines of a build log, enough to see why a RUN failed. */
function tail(text: string, n = 60): string {
  return text.split('\n').slice(-n).join('\n');
}

/**
 * Builds `FROM kiln-root:<root>` plus the install steps kiln renders for `versions` (which must already be in
 * canonical order, as resolveComponents returns them). The user's part of the plan is a tiny marker file. Throws with
 * the end of the build log when any event of the engine's stream reports an error: dockerode never rejects for those.
 */
export async function buildComponentImage(
  docker: Docker,
  root: string,
  versions: ComponentVersion[],
  tag: string,
  opts: { signal?: AbortSignal; noCache?: boolean } = {},
): Promise<ComponentImage> {
  const image = rootImageName(ROOT_IMAGE_PREFIX, root);
  const marker = Buffer.from(`kiln component smoke test: ${versions.map((v) => v.key).join(' ')}\n`);
  const plan: BuildPlan = {
    root: { name: root, image },
    base: { kind: 'root', image },
    components: versions.map((v) => ({ name: v.name, version: v.version, key: v.key, recipeHash: v.recipeHash })),
    binary: { uploadId: 'component-smoke', sha256: 'none', size: marker.length, s3Key: 'none', path: '/opt/kiln-smoke/marker' },
    entrypoint: ['cat', '/opt/kiln-smoke/marker'],
    env: {},
    imageRef: tag,
  };
  const rendered = renderDockerfile(plan, versions);
  const progress = new BuildProgress(rendered.instructions);
  let log = '';
  const errors: string[] = [];
  const t0 = Date.now();
  await buildImage(
    docker,
    buildContext(rendered, { stream: Readable.from([marker]), size: marker.length }),
    { tag, labels: { 'kiln.smoke-test': versions.map((v) => v.key).join(',') }, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.noCache ? { noCache: true } : {}) },
    (ev: EngineEvent) => {
      if (ev.error || ev.errorDetail) errors.push((ev.errorDetail?.message ?? ev.error ?? '').trim());
      log += progress.onEvent(ev, Date.now());
    },
  );
  const steps = progress.finish(Date.now());
  if (errors.length > 0 || progress.error) {
    throw new Error(`building ${tag} failed: ${errors[0] ?? progress.error}\n--- Dockerfile\n${rendered.dockerfile}--- end of build log\n${tail(log)}`);
  }
  if (!progress.imageId) throw new Error(`building ${tag} ended without an image id\n${tail(log)}`);
  return { tag, imageId: progress.imageId, dockerfile: rendered.dockerfile, steps, seconds: (Date.now() - t0) / 1000 };
}

/** Runs `sh -euc script` in a new container of `image` (its entrypoint reset), removes it, returns exit code and output. */
export async function runSmoke(docker: Docker, image: string, script: string): Promise<{ code: number; output: string }> {
  return runContainer(docker, image, { Cmd: ['sh', '-euc', script], Entrypoint: [''], HostConfig: { NetworkMode: 'none' } });
}

/** Removes images by tag (forced); one that is already gone is fine. Returns the tags that could not be removed. */
export async function removeImages(docker: Docker, tags: Iterable<string>, opts: { noprune?: boolean } = {}): Promise<string[]> {
  const failed: string[] = [];
  for (const tag of tags) {
    try {
      await docker.getImage(tag).remove({ force: true, ...(opts.noprune ? { noprune: true } : {}) });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) failed.push(`${tag}: ${(err as Error).message}`);
    }
  }
  return failed;
}

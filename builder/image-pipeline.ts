// The one image pipeline: builds and template builds both produce their image here — base made present, context tar,
// engine build (every event scanned), push, and cleanup of what the attempt left on the engine, on every exit path.
// Stopping (cancel, timeout, shutdown) is one AbortSignal that reaches the S3 read, the engine build and the push.
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { ImageBase } from '../core/image-labels.ts';
import type { RegistryAuth } from '../core/registry-client.ts';
import { BuildFailure, stepFailed } from './build-errors.ts';
import type { LiveStep } from '../core/live-progress.ts';
import { BuildProgress, type StepTiming } from './build-progress.ts';
import { buildContext, type ContextUpload } from './build-context.ts';
import { withEngineLane, type RenderedBuild } from './dockerfile-render.ts';
import type { EngineLanes } from './engine-lanes.ts';
import { noOutageRetry, type OutageRetry } from './outage-retry.ts';
import { buildImage, ensureBaseImage, pushImage, removeBuiltImage, splitImageRef, type BaseImage, type Pulled, type PublishedRoots } from './docker-engine.ts';

export interface PipelineDeps {
  docker: Docker;
  /** This process's engine lanes: where each engine build's own steps start (engine-lanes.ts). */
  lanes: EngineLanes;
  registryAuth: RegistryAuth;
  /** Where a root this engine lacks is pulled from. */
  roots: PublishedRoots;
}

export interface ImageRequest {
  /** What the image starts FROM; pulled by digest (template) or from the published roots when the engine lacks it. */
  base: BaseImage;
  rendered: RenderedBuild;
  /** The user's upload, opened only once the base is present (a build); absent for a template. */
  openUpload?: (signal: AbortSignal) => Promise<ContextUpload>;
  /** Full reference to tag and push (registry/path:tag). */
  ref: string;
  /** The image's labels, once the base it starts FROM is known by name and digest (core/image-labels.ts). */
  labels: (base: ImageBase) => Record<string, string>;
  /**
   * Keep the pushed image on this engine: a template stays, so builds here start FROM it without a pull. A build's
   * image is dropped once pushed (its component layers stay as the layer cache).
   */
  keepImage: boolean;
  /**
   * How the built image leaves the engine; returns the digest it is known by (and the bytes uploaded, when known).
   * Default: the engine pushes `ref`. A component layer is instead taken out with `docker save`, normalized and
   * uploaded as one blob (layer-build.ts).
   */
  publish?: (imageId: string, appendLog: (text: string) => void, signal: AbortSignal) => Promise<{ digest: string; bytes: number | null }>;
  /** Judges the built image before it is pushed (builder/final-check.ts); throws to push nothing. */
  check?: (imageId: string, signal: AbortSignal) => Promise<void>;
  /** Told at each change of step (pull, each plan step, push), for whoever watches the build's progress. */
  onStep?: (step: LiveStep) => void;
  /** Rides out a registry or S3 outage while the upload is opened and while the image is published. */
  retry?: OutageRetry;
}

export interface ProducedImage {
  digest: string;
  imageId: string;
  sizeBytes: number;
  /** Per plan step (component key or `binary`), in order. */
  steps: StepTiming[];
  /** The base had to be pulled first (a template or root this engine lacked). */
  pull: Pulled | null;
  push: { seconds: number; bytes: number | null };
}

/** Engine errors that say the engine, not the step, failed. */
const engineFault = /failed to create endpoint|no such network interface|failed to create shim|OCI runtime create failed/i;

export async function produceImage(
  deps: PipelineDeps,
  req: ImageRequest,
  appendLog: (text: string) => void,
  signal: AbortSignal,
): Promise<ProducedImage> {
  const onStep = req.onStep ?? (() => undefined);
  let pull: Pulled | null = null;
  const base = await ensureBaseImage(deps.docker, req.base, { auth: deps.registryAuth, roots: deps.roots }, signal, {
    started: () => onStep({ kind: 'pull', component: 'pull' }),
    done: (p) => (pull = p),
  });
  signal.throwIfAborted();
  const labels = req.labels(base);
  const retry = req.retry ?? noOutageRetry;
  const openUpload = req.openUpload;
  const upload = openUpload ? await retry('reading the upload from S3', () => openUpload(signal)) : undefined;

  // The lane is held from the engine build to the end of its cleanup: no other build of this process starts its own
  // steps on the lane's image while this one's stand there.
  const lane = deps.lanes.acquire();
  const rendered = withEngineLane(req.rendered, lane.id);
  const progress = new BuildProgress(rendered.instructions, (owner, cached) => onStep({ kind: cached ? 'cache' : 'install', component: owner }));
  // A stop reaches the engine's build at once while it runs component steps (the engine kills the step's container
  // and keeps nothing of it). Once the build's own steps may have begun, the engine's build is let finish — a COPY
  // and a few metadata steps — so that every image it commits is one this attempt knows of and removes below; a step
  // cut off mid-way would be committed unseen, holding the user's upload (a 2 GiB archive: 2 GiB). The stop then
  // takes effect before the push.
  const engineStop = new AbortController();
  const stopEngine = () => {
    if (!progress.ownStepsBegun()) engineStop.abort(signal.reason);
  };
  signal.addEventListener('abort', stopEngine, { once: true });
  if (signal.aborted) stopEngine();
  let pushed = false;
  try {
    await buildImage(
      deps.docker,
      buildContext(rendered, upload),
      { tag: req.ref, labels, signal: engineStop.signal },
      (ev) => appendLog(progress.onEvent(ev, Date.now())),
    );
    signal.removeEventListener('abort', stopEngine);
    const steps = progress.finish(Date.now());
    if (progress.error) {
      const owner = steps.at(-1)?.owner;
      const message = `${owner ? `step ${owner} failed: ` : ''}${progress.error}`;
      // The engine could not even start the step's container (its network or runtime is broken): not the recipe's fault.
      if (engineFault.test(progress.error)) throw new BuildFailure(`the Docker engine could not run a step: ${message}`, true);
      throw stepFailed(message);
    }
    if (!progress.imageId) throw new BuildFailure('the engine finished the build without reporting an image id', true);
    const imageId = progress.imageId;
    const sizeBytes = (await deps.docker.getImage(imageId).inspect()).Size;
    await addStepBytes(deps.docker, req.base.image, progress, steps);

    if (req.check) await req.check(imageId, signal);
    // Past this point a cancel still stops the push; once the registry holds the manifest the image is made.
    signal.throwIfAborted();
    onStep({ kind: 'push', component: 'push' });
    const pushStarted = Date.now();
    const publish = req.publish ?? pushWith(deps, req.ref);
    // The engine resumes a push: layers the registry got before it went away are not sent again.
    const { digest, bytes } = await retry(`pushing ${req.ref}`, () => publish(imageId, appendLog, signal));
    pushed = true;
    return { digest, imageId, sizeBytes, steps, pull, push: { seconds: (Date.now() - pushStarted) / 1000, bytes } };
  } finally {
    signal.removeEventListener('abort', stopEngine);
    // Whatever happened (pushed, failed, canceled, timed out), the engine keeps only the components' layers, which
    // are the layer cache: the image's tag and the layers of the user's own steps go. A retry rebuilds those from the
    // cache in a second. A template that was pushed stays whole.
    // Removing them is safe for every other build on the engine: they stand on this attempt's lane, not on an image
    // other builds' cache lookups list (engine-lanes.ts).
    if (!(pushed && req.keepImage)) {
      await removeBuiltImage(deps.docker, req.ref, progress.imageId, progress.binaryStepImages()).catch((err: unknown) =>
        appendLog(`kiln: could not remove this attempt's image from the engine (it keeps it): ${(err as Error).message}\n`),
      );
    }
    lane.release();
  }
}

/** The default publishing: the engine pushes `ref` to the registry. */
function pushWith(deps: PipelineDeps, ref: string): NonNullable<ImageRequest['publish']> {
  return async (_imageId, appendLog, signal) => {
    appendLog(`kiln: pushing ${ref}\n`);
    const { repository, tag } = splitImageRef(ref);
    const pushed = await pushImage(
      deps.docker,
      { repository, tag, registry: deps.registryAuth.serveraddress },
      deps.registryAuth,
      (ev) => {
        if (ev.status && !ev.status.startsWith('Pushing')) appendLog(`${ev.id ? `${ev.id}: ` : ''}${ev.status}\n`);
      },
      signal,
    );
    appendLog(`kiln: pushed ${ref}@${pushed.digest}\n`);
    return pushed;
  };
}

/**
 * Each step's bytes: the size of the image it ended with minus the one before it (the base for the first). What an
 * install step adds is what a push of it moves, so the estimator learns push times from it. Best effort: a size the
 * engine will not tell leaves the step without bytes.
 */
async function addStepBytes(docker: Docker, baseImage: string, progress: BuildProgress, steps: StepTiming[]): Promise<void> {
  const size = (image: string | undefined) => (image ? docker.getImage(image).inspect().then((i) => i.Size, () => undefined) : Promise.resolve(undefined));
  let previous = await size(baseImage);
  const sizes = new Map<string, number>();
  for (const { owner, image } of progress.stepImages()) {
    const now = await size(image);
    if (now !== undefined && previous !== undefined) sizes.set(owner, Math.max(0, now - previous));
    previous = now ?? previous;
  }
  for (const s of steps) {
    const bytes = sizes.get(s.owner);
    if (bytes !== undefined) s.bytes = bytes;
  }
}

/** Opens the user's upload from S3 for the context; a failed read is retryable unless kiln stopped the build. */
export function uploadOpener(
  getStream: (key: string, signal: AbortSignal) => Promise<Readable>,
  binary: { s3Key: string; size: number; sha256: string; kind?: 'tar'; entries?: number; unpackedSize?: number },
  isTransient: (err: unknown) => boolean,
): (signal: AbortSignal) => Promise<ContextUpload> {
  return async (signal) => {
    try {
      return { ...binary, stream: await getStream(binary.s3Key, signal) };
    } catch (err) {
      signal.throwIfAborted();
      throw new BuildFailure(`could not read the upload from S3: ${(err as Error).message}`, isTransient(err), { cause: err });
    }
  };
}

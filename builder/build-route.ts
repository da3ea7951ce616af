// Which way a build goes, decided when it starts: composed (assembled in the registry from the prebuilt layers of a
// verified combination: no engine build, no install) or installed (FROM the best template or the root, as before).
// A build falls back to installing — and says why in its log — when it asked to (`"route": "install"`), composition is
// off, a component is marked not composable, a layer is missing (its building is queued for the next build) or failed,
// or the combination is not composable (conflicting paths, a smoke test that fails).
import type { Queue } from 'bullmq';
import type { BlobStore } from '../core/blob-store.ts';
import type { BuildPlan } from '../core/build-types.ts';
import { FsView } from '../core/composition/layer-index.ts';
import { notComposable } from '../core/composition/layer-plan.ts';
import type { CompositionRow } from '../core/db/schema/compositions.ts';
import type { BuildRow } from '../core/db/schema/builds.ts';
import { LAYERS_JOB, layersJobOptions, type LayersJob } from '../core/queues.ts';
import { BuildFailure, isTransient } from './build-errors.ts';
import { ensureVerified } from './combination-verify.ts';
import { BinaryLayerRecord, binaryLayerTar, type PublishedRoot } from './composer.ts';
import { placeBinary, PlacementError, type Placement } from '../core/composition/binary-placement.ts';
import { touchesDpkg } from '../core/image-check.ts';
import { checkComposedDpkg, checkComposedProgram } from './final-check.ts';
import type { ResolvedLayer } from './composition-service.ts';
import { ensureBaseImage, splitImageRef, type BaseImage } from './docker-engine.ts';
import { imageLabels } from '../core/image-labels.ts';
import { uploadOpener } from './image-pipeline.ts';
import type { LayerWork } from './layer-build.ts';
import { noOutageRetry } from './outage-retry.ts';
import type { ContextUpload } from './build-context.ts';

export type Route =
  | { kind: 'composed'; root: PublishedRoot; layers: ResolvedLayer[]; composition: CompositionRow | null; verifiedNow: boolean; verifySeconds: number }
  | { kind: 'install'; reason: string };

export interface RouteDeps {
  enabled: boolean;
  /** Producer of the build queue: missing layers are queued for the next build of the combination. */
  queue: Pick<Queue<LayersJob>, 'add'>;
  retry: { attempts: number; backoffSeconds: number };
}

/** `onVerify`: told when this build has to verify the combination before it can compose (it takes a while). */
export async function chooseRoute(w: LayerWork, r: RouteDeps, plan: BuildPlan, onVerify: () => void = () => undefined): Promise<Route> {
  // Asked to install: nothing of composition is looked at, queued or verified, so the build never waits for it.
  if (plan.route === 'install') return { kind: 'install', reason: 'the build asked for it ("route": "install"), whatever layers exist' };
  if (!r.enabled) return { kind: 'install', reason: 'composition is off (KILN_COMPOSITION=false)' };
  const marked = notComposable(w.deps.catalog, plan.components);
  if (marked.length > 0) return { kind: 'install', reason: `${marked.join(', ')} ${marked.length > 1 ? 'are' : 'is'} marked not composable in the catalog` };
  let root: PublishedRoot;
  try {
    root = await (w.retry ?? noOutageRetry)(`reading root ${plan.root.name} from the registry`, () => w.svc.publishedRoot(plan.root.name));
  } catch (err) {
    if (err instanceof BuildFailure && !err.retryable) return { kind: 'install', reason: err.message };
    throw err;
  }
  if (plan.components.length === 0) return { kind: 'composed', root, layers: [], composition: null, verifiedNow: false, verifySeconds: 0 };

  const resolved = await w.svc.resolveLayers(root, plan.components);
  if (resolved.kind === 'missing') {
    const { component, row } = resolved.missing;
    if (row?.status === 'failed') return { kind: 'install', reason: `the layer of ${component.key} failed to build (${row.error ?? 'unknown error'})` };
    const job: LayersJob = { root: plan.root.name, components: plan.components.map((c) => c.key), verify: true };
    await r.queue.add(LAYERS_JOB, job, layersJobOptions(job, r.retry));
    return { kind: 'install', reason: `no layer of ${component.key} yet${row?.status === 'building' ? ' (being built)' : ''}; its layers are queued, so the next build of this combination is composed` };
  }
  const started = Date.now();
  const before = await w.deps.store.composition(w.svc.key(root, resolved.layers));
  if (before?.status !== 'verified') onVerify();
  const composition = before?.status === 'verified' ? before : await ensureVerified(w, root, resolved.layers);
  if (composition.status !== 'verified') return { kind: 'install', reason: `the combination is not composable: ${composition.error ?? composition.status}` };
  const verifiedNow = before?.status !== 'verified';
  return { kind: 'composed', root, layers: resolved.layers, composition, verifiedNow, verifySeconds: verifiedNow ? (Date.now() - started) / 1000 : 0 };
}

/** The plan's base for a composed build. */
export function composedBase(
  route: Extract<Route, { kind: 'composed' }>,
  saved: { seconds: number; estimated: number },
  host: string,
): Extract<BuildPlan['base'], { kind: 'composed' }> {
  const c = route.composition;
  return {
    kind: 'composed',
    image: `${host}/${c?.imageRef ?? route.root.repository}`,
    digest: c?.imageDigest ?? route.root.manifestDigest,
    compositionKey: c?.key ?? '',
    layers: route.layers.map((l) => ({ key: l.componentKey, digest: l.digest })),
    merge: c?.mergeDigest ?? null,
    verifiedNow: route.verifiedNow,
    secondsSaved: saved.seconds,
    secondsSavedEstimated: saved.estimated,
  };
}

/** Assembles the user's image in the registry: the combination's layers mounted, the binary layer written. */
export async function composeBuild(
  w: LayerWork & { uploads: Pick<BlobStore, 'getStream'> },
  build: Pick<BuildRow, 'id' | 'plan' | 'spec'>,
  route: Extract<Route, { kind: 'composed' }>,
): Promise<{ digest: string; imageId: string; seconds: number }> {
  const started = Date.now();
  const { plan } = build;
  const { svc } = w;
  const view = route.composition
    ? await svc.view(route.root, route.layers, route.composition)
    : new FsView().apply((await svc.rootRecord(route.root)).record.index);
  let placement: Placement;
  try {
    placement = placeBinary(view, plan.binary.path, plan.binary.kind === 'tar' ? 'tar' : 'file');
  } catch (err) {
    if (err instanceof PlacementError) throw new BuildFailure(`binaryPath ${plan.binary.path}: ${err.message}`, false);
    throw err;
  }
  const retry = w.retry ?? noOutageRetry;
  const open = uploadOpener((key, s) => w.uploads.getStream(key, s), plan.binary, isTransient);
  // Opened before the registry is touched, so an upload S3 cannot give fails first; a retried layer upload reads it
  // again from the start (the previous read, cut off or never begun, is closed).
  let upload: Promise<ContextUpload> | undefined = retry('reading the upload from S3', () => open(w.signal));
  let previous: ContextUpload | undefined = await upload;
  // What the binary layer holds, for the final check: recorded anew by each attempt at writing the layer.
  let record = new BinaryLayerRecord();
  const binaryTar = (): AsyncIterable<Buffer> => {
    const opened = upload ?? retry('reading the upload from S3 again', () => open(w.signal));
    upload = undefined;
    return (async function* () {
      const next = await opened;
      if (previous && previous !== next) previous.stream.destroy();
      previous = next;
      record = new BinaryLayerRecord();
      yield* binaryLayerTar(next, placement, view, record);
    })();
  };
  const env = svc.envOf(route.root, plan.components, plan.env);
  // The final image is judged before its manifest is written: dpkg's state in a container when the binary wrote into
  // it (a second read of the upload, through the same layout), then the program the image starts, on the view.
  const check = async () => {
    const written = record;
    if (touchesDpkg(written.entries.filter((e) => e.type !== 'dir').map((e) => e.path))) {
      const c = route.composition;
      const base: BaseImage = c?.imageRef && c.imageDigest ? { kind: 'template', image: `${w.deps.host}/${c.imageRef}`, digest: c.imageDigest } : await svc.rootBase(route.root);
      await ensureBaseImage(w.deps.docker, base, { auth: w.deps.registryAuth, roots: w.deps.roots }, w.signal);
      w.appendLog(`kiln: the binary writes into dpkg's state: running dpkg --audit and apt-get check on the image\n`);
      const again = await retry('reading the upload from S3 for the dpkg check', () => open(w.signal));
      try {
        await checkComposedDpkg(w.deps.docker, base.image, written, () => binaryLayerTar(again, placement, view), w.signal);
      } finally {
        again.stream.destroy();
      }
    }
    checkComposedProgram(view, written, { entrypoint: plan.entrypoint, cmd: plan.cmd, env, workdir: route.root.config.config?.WorkingDir });
  };
  const { repository: full, tag } = splitImageRef(plan.imageRef);
  const repository = full.slice(full.indexOf('/') + 1);
  w.appendLog(`kiln: composing ${plan.imageRef} from ${route.layers.length ? route.layers.map((l) => l.componentKey).join(', ') : 'the root alone'}: no engine build, no install\n`);
  let assembled: { digest: string; configDigest: string };
  try {
    assembled = await svc.assemble(
      { repository, tag },
      {
        root: route.root,
        layers: route.composition ? svc.stack(route.root, route.layers, route.composition) : [],
        binary: { tar: binaryTar, createdBy: `kiln: ${plan.binary.kind === 'tar' ? 'archive' : 'binary'} at ${plan.binary.path} (upload ${plan.binary.sha256})` },
        check,
        env,
        entrypoint: plan.entrypoint,
        ...(plan.cmd ? { cmd: plan.cmd } : {}),
        labels: imageLabels(build, plan.base.kind === 'composed' ? { name: plan.base.image, digest: plan.base.digest } : { name: plan.base.image }, new Date()),
      },
      w.signal,
      retry,
    );
  } finally {
    previous?.stream.destroy(); // read to its end, or (a failed assembly) never to be read
  }
  const { digest, configDigest } = assembled;
  if (route.composition) await w.deps.store.hit(route.composition.key);
  w.appendLog(`kiln: pushed ${plan.imageRef}@${digest}\n`);
  return { digest, imageId: configDigest, seconds: (Date.now() - started) / 1000 };
}

// Component layers: each component version installed once on its base (the root, or the root with the layers of what
// it requires), through the one image pipeline, its layer taken out normalized and kept in the registry. A layer is
// built by whoever claims it first; others wait for it.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PlannedComponent } from '../core/build-types.ts';
import type { LeasePolicy } from '../core/claim-lease.ts';
import { FsView } from '../core/composition/layer-index.ts';
import { layerRecordKey, serializeRecord } from '../core/composition/layer-record.ts';
import { MEDIA, composeManifest } from '../core/composition/image-config.ts';
import type { ComponentLayerRow } from '../core/db/schema/compositions.ts';
import { BuildFailure, isTransient } from './build-errors.ts';
import { layersRepository, type CompositionDeps, type CompositionService, type ResolvedLayer } from './composition-service.ts';
import { ClaimLost, holdClaim } from './claim-holder.ts';
import type { PublishedRoot } from './composer.ts';
import { renderLayerDockerfile } from './dockerfile-render.ts';
import { produceImage } from './image-pipeline.ts';
import { extractTopLayer, type ExtractedLayer } from './layer-extract.ts';
import type { OutageRetry } from './outage-retry.ts';

export interface LayerWork {
  deps: CompositionDeps;
  svc: CompositionService;
  /**
   * The lease of a claim (a layer being built, a combination being verified): renewed while the work runs, taken
   * over by another builder once it lapses — a builder that dies blocks the work for one lease, not one job timeout.
   */
  lease: LeasePolicy;
  appendLog: (text: string) => void;
  signal: AbortSignal;
  /** Rides out a registry or S3 outage within the job's time budget; absent: a failed call fails the attempt. */
  retry?: OutageRetry;
}

/**
 * Builds the layer `row` claimed: FROM the root, the install steps of what it requires (the layer cache answers them
 * when they ran before), its own install step; then its layer out, normalized, into the registry.
 */
async function buildLayer(w: LayerWork, root: PublishedRoot, row: ComponentLayerRow, base: ResolvedLayer[], token: string): Promise<void> {
  const { deps, svc } = w;
  const started = Date.now();
  const [name, version] = row.componentKey.split('@') as [string, string];
  const v = deps.catalog.components.get(name)?.versions.get(version);
  if (!v || v.recipeHash !== row.recipeHash) throw new BuildFailure(`the recipe of ${row.componentKey} changed after its layer was planned`, false);

  const rootRec = await svc.rootRecord(root);
  // The filesystem below the component's own layer: the root, and the layers of what it requires.
  const baseView = new FsView().apply(rootRec.record.index);
  for (const b of base) baseView.apply((await svc.layerRecord(b.row)).index);
  const from = await svc.rootBase(root);
  const baseVersions = base.map((b) => {
    const bv = deps.catalog.components.get(b.componentKey.slice(0, b.componentKey.indexOf('@')))?.versions.get(b.componentKey.slice(b.componentKey.indexOf('@') + 1));
    if (!bv || bv.recipeHash !== b.row.recipeHash) throw new BuildFailure(`the recipe of ${b.componentKey} changed after the layer of ${row.componentKey} was planned`, false);
    return bv;
  });

  w.appendLog(`kiln: building the layer of ${row.componentKey} on ${[from.image, ...base.map((b) => b.componentKey)].join(' + ')}\n`);
  const repository = layersRepository(deps.prefix, root.root);
  let extracted: ExtractedLayer | undefined;
  await produceImage(
    deps,
    {
      base: from,
      rendered: renderLayerDockerfile(from.image, baseVersions, v),
      ref: `kiln-layer-build:${row.id}`,
      // The label makes a last, empty step: removing that image afterwards leaves the install step's image as the
      // engine's layer cache (installed builds of the component reuse it), as after any build.
      labels: () => ({ 'dev.kiln.layer': row.id }),
      keepImage: false,
      publish: async (imageId, appendLog, signal) => {
        appendLog(`kiln: taking the layer of ${row.componentKey} out of the engine (normalized, gzipped, to ${deps.host}/${repository})\n`);
        extracted = await extractTopLayer(deps, { image: imageId, base: { diffIds: root.diffIds, blobs: root.layers.map((l) => l.digest) }, baseView, repository, signal });
        return { digest: extracted.digest, bytes: extracted.size };
      },
    },
    w.appendLog,
    w.signal,
  );
  const x = extracted!;
  // A builder that lost the claim leaves the record and the manifest tag to the one that holds it now.
  w.signal.throwIfAborted();
  await deps.s3.putText(layerRecordKey(x.diffId), serializeRecord(x.record));
  // A small manifest names the blob, so the registry's garbage collection keeps it (and people can find it).
  const config = await deps.blobs.put(repository, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [x.diffId] } })));
  await deps.blobs.putManifest(repository, row.id, composeManifest({ mediaType: MEDIA.config, ...config }, [{ mediaType: MEDIA.layer, digest: x.digest, size: x.size }]), MEDIA.manifest);
  const sharedPaths = [...x.record.state.keys()];
  w.signal.throwIfAborted();
  const mine = await deps.store.markLayerReady(row.id, token, {
    digest: x.digest,
    diffId: x.diffId,
    sizeBytes: x.size,
    unpackedBytes: x.unpackedBytes,
    indexKey: layerRecordKey(x.diffId),
    sharedPaths,
    whiteouts: x.record.index.whiteouts,
    opaqueDirs: x.record.index.opaque,
    droppedMarkers: x.droppedMarkers,
    buildSeconds: (Date.now() - started) / 1000,
  });
  if (!mine) throw new ClaimLost(`the layer of ${row.componentKey}: another builder took the claim over (its lease had lapsed)`);
  w.appendLog(
    `kiln: layer ${row.componentKey} ready: ${x.digest} (${(x.size / 1e6).toFixed(1)} MB gzipped, ${x.record.index.entries.length} entries, ` +
      `${x.droppedMarkers} opaque markers dropped, ${x.record.index.whiteouts.length} whiteouts kept)\n`,
  );
}

/**
 * Makes every layer of a combination exist, building (in install order) those nobody has, and waiting for those
 * another builder is building. Returns the ready layers.
 */
export async function ensureLayers(w: LayerWork, root: PublishedRoot, components: readonly PlannedComponent[]): Promise<ResolvedLayer[]> {
  const told = new Set<string>();
  for (;;) {
    w.signal.throwIfAborted();
    const r = await w.svc.resolveLayers(root, components);
    if (r.kind === 'ready') return r.layers;
    const { component, base, baseKey } = r.missing;
    const lease = { token: randomUUID(), policy: w.lease };
    const { layer, claimed } = await w.deps.store.claimLayer(
      {
        id: randomUUID(),
        root: root.root,
        rootImageId: root.imageId,
        componentKey: component.key,
        recipeHash: component.recipeHash,
        baseKey,
        baseLayers: base.map(({ row: _row, ...l }) => l),
        repository: layersRepository(w.deps.prefix, root.root),
      },
      lease,
    );
    if (claimed) {
      const held = holdClaim(() => w.deps.store.renewLayer(layer.id, lease), w.lease, w.signal, `the layer of ${component.key}`);
      try {
        await buildLayer({ ...w, signal: held.signal }, root, layer, base, lease.token);
      } catch (err) {
        const lost = !w.signal.aborted && (err instanceof ClaimLost || held.lost());
        // A recipe that cannot install on this base fails for good; anything else (stopped, the engine or registry
        // away) leaves the layer for the next one who needs it. Only while the claim is still this builder's.
        const status = lost || w.signal.aborted || isTransient(err) ? 'stale' : 'failed';
        await w.deps.store.markLayerEnded(layer.id, lease.token, status, (err as Error).message).catch(() => undefined);
        if (!lost) throw err;
        // Another builder builds it now: wait for it like for any layer someone else builds.
        w.appendLog(`kiln: ${(held.signal.reason as Error | undefined)?.message ?? (err as Error).message}; waiting for it\n`);
      } finally {
        held.release();
      }
    } else if (layer.status === 'failed') {
      throw new BuildFailure(`the layer of ${component.key} failed to build: ${layer.error ?? 'unknown error'}`, false);
    } else if (layer.status === 'building') {
      // Claimed again each round: a builder that died stops renewing, and its claim is taken over once it lapses.
      if (!told.has(layer.id)) w.appendLog(`kiln: waiting for another builder to finish the layer of ${component.key}\n`);
      told.add(layer.id);
      await sleep(2000, undefined, { signal: w.signal });
    }
  }
}

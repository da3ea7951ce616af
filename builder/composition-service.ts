// Composition on a builder: which published root and which component layers a combination is made of, building a
// missing layer (through the one image pipeline, its layer taken out normalized), proving a new combination once
// (verification, cached by its layers' digests), and assembling a user's image in the registry without an engine.
import type { PlannedComponent } from '../core/build-types.ts';
import type { BlobStore } from '../core/blob-store.ts';
import type { Catalog, ComponentVersion } from '../core/catalog/catalog.ts';
import { composeEnv, MEDIA, type ImageConfig } from '../core/composition/image-config.ts';
import { FsView } from '../core/composition/layer-index.ts';
import { findLayers, type ResolvedLayer } from '../core/composition/layer-lookup.ts';
import { compositionKey } from '../core/composition/layer-plan.ts';
import { layerRecordKey, parseRecord, rootRecordKey, serializeRecord, type LayerRecord } from '../core/composition/layer-record.ts';
import type { CompositionStore } from '../core/db/composition-store.ts';
import type { ComponentLayerRow, CompositionLayer, CompositionRow } from '../core/db/schema/compositions.ts';
import { kilnRepository } from '../core/kiln-repositories.ts';
import type { Logger } from '../core/logger.ts';
import type { RegistryBlobs } from '../core/registry-blobs.ts';
import type { RegistryClient } from '../core/registry-client.ts';
import { BuildFailure } from './build-errors.ts';
import { assembleImage, type PublishedRoot, type StackedLayer } from './composer.ts';
import { CURRENT_ROOT_TAG, ensureBaseImage, publishRoots, rootRepository, type BaseImage } from './docker-engine.ts';
import type { PipelineDeps } from './image-pipeline.ts';
import { recordImage } from './layer-extract.ts';
import type { OutageRetry } from './outage-retry.ts';

export interface CompositionDeps extends PipelineDeps {
  catalog: Catalog;
  store: CompositionStore;
  s3: Pick<BlobStore, 'getText' | 'putText'>;
  blobs: RegistryBlobs;
  registry: Pick<RegistryClient, 'manifestDigest' | 'deleteManifest'>;
  /** REGISTRY_HOST and REGISTRY_PREFIX */
  host: string;
  prefix: string;
  rootImagePrefix: string;
  log: Logger;
}

export const layersRepository = (prefix: string, root: string) => kilnRepository(prefix, 'layers', root);
export const compositionsRepository = (prefix: string, root: string) => kilnRepository(prefix, 'compositions', root);

export type { ResolvedLayer } from '../core/composition/layer-lookup.ts';

export function createCompositionService(deps: CompositionDeps) {
  const records = new Map<string, LayerRecord>();
  const configs = new Map<string, ImageConfig>();

  /** A record from S3, kept in memory (they are content-addressed: a key always holds the same record). */
  async function record(key: string): Promise<LayerRecord> {
    const cached = records.get(key);
    if (cached) return cached;
    const text = await deps.s3.getText(key);
    if (text === undefined) throw new BuildFailure(`composition record ${key} is missing from S3`, false);
    const parsed = parseRecord(text);
    if (records.size > 32) records.delete(records.keys().next().value!);
    records.set(key, parsed);
    return parsed;
  }

  /**
   * The root as published under kiln-roots/<root>:current — the one composition builds on, on every host. A builder
   * whose engine holds the root publishes it first when nobody has.
   */
  async function publishedRoot(root: string): Promise<PublishedRoot> {
    const repository = rootRepository(deps.prefix, root);
    let digest = await deps.registry.manifestDigest(repository, CURRENT_ROOT_TAG);
    if (!digest) {
      const image = `${deps.rootImagePrefix}:${root}`;
      await publishRoots(deps.docker, [{ root, image }], { auth: deps.registryAuth, prefix: deps.prefix }, deps.log);
      digest = await deps.registry.manifestDigest(repository, CURRENT_ROOT_TAG);
    }
    if (!digest) throw new BuildFailure(`root "${root}" is not published in registry ${deps.host} (${repository}:${CURRENT_ROOT_TAG}), and this engine cannot publish it`, false);
    const manifest = await deps.blobs.manifest(repository, digest);
    if (!manifest) throw new BuildFailure(`root manifest ${repository}@${digest} vanished`, true);
    const parsed = JSON.parse(manifest.body.toString('utf8')) as { config: { digest: string }; layers: { mediaType: string; digest: string; size: number }[] };
    let config = configs.get(parsed.config.digest);
    if (!config) {
      config = JSON.parse((await deps.blobs.get(repository, parsed.config.digest)).toString('utf8')) as ImageConfig;
      configs.set(parsed.config.digest, config);
    }
    return { root, repository, imageId: parsed.config.digest, manifestDigest: digest, layers: parsed.layers, diffIds: config.rootfs.diff_ids, config };
  }

  /** What the engine builds a layer FROM when it stands on the root alone: the local root if it is this very image. */
  async function rootBase(root: PublishedRoot): Promise<BaseImage> {
    const local = `${deps.rootImagePrefix}:${root.root}`;
    const info = await deps.docker.getImage(local).inspect().catch(() => undefined);
    // A graphdriver store names an image by its config's digest, the containerd store by its manifest's.
    if (info && (info.Id === root.imageId || info.Id === root.manifestDigest)) return { kind: 'root', image: local, root: root.root };
    return { kind: 'template', image: `${deps.host}/${root.repository}:${root.imageId.slice(7, 19)}`, digest: root.manifestDigest };
  }

  /** The root's file index and shared state (made once, on a host whose engine can read the root). */
  async function rootRecord(root: PublishedRoot): Promise<{ record: LayerRecord; sizes: Record<string, number> }> {
    const row = await deps.store.root(root.imageId);
    if (row) return { record: await record(row.indexKey), sizes: row.layerSizes };
    const base = await rootBase(root);
    if (base.kind !== 'root') await ensureBaseImage(deps.docker, base, { auth: deps.registryAuth, roots: deps.roots });
    const read = await recordImage(deps.docker, base.image);
    if (read.imageId !== root.imageId) throw new BuildFailure(`root ${base.image} is ${read.imageId}, not the published ${root.imageId}`, true);
    const key = rootRecordKey(root.imageId);
    await deps.s3.putText(key, serializeRecord(read.record));
    await deps.store.saveRoot({ imageId: root.imageId, root: root.root, diffIds: read.diffIds, layerSizes: read.sizes, indexKey: key });
    records.set(key, read.record);
    return { record: read.record, sizes: read.sizes };
  }

  /** The ready layers of a combination, in install order, or the first one missing. */
  const resolveLayers = (root: PublishedRoot, components: readonly PlannedComponent[]) => findLayers(deps.store, deps.catalog, root, components);

  const layerRecord = (l: Pick<ComponentLayerRow, 'diffId'>) => record(layerRecordKey(l.diffId!));

  /** The composed filesystem of a verified combination (root, layers, merge layer): where a binary lands. */
  async function view(root: PublishedRoot, layers: readonly ResolvedLayer[], comp: CompositionRow): Promise<FsView> {
    const v = new FsView().apply((await rootRecord(root)).record.index);
    for (const l of layers) v.apply((await layerRecord(l.row)).index);
    if (comp.mergeDiffId) v.apply((await record(layerRecordKey(comp.mergeDiffId))).index);
    return v;
  }

  /** The layers to stack for a verified combination: its component layers, then its merge layer. */
  function stack(root: PublishedRoot, layers: readonly ResolvedLayer[], comp: Pick<CompositionRow, 'mergeDigest' | 'mergeDiffId' | 'mergeSize'>): StackedLayer[] {
    const from = layersRepository(deps.prefix, root.root);
    return [
      ...layers.map((l) => ({ mediaType: MEDIA.layer, digest: l.digest, size: l.size, diffId: l.diffId, createdBy: `kiln: component ${l.componentKey} (${l.row.recipeHash})`, from })),
      {
        mediaType: MEDIA.layer,
        digest: comp.mergeDigest!,
        size: comp.mergeSize!,
        diffId: comp.mergeDiffId!,
        createdBy: `kiln: merge layer (${layers.map((l) => l.componentKey).join(', ')})`,
        from: compositionsRepository(deps.prefix, root.root),
      },
    ];
  }

  const versionOf = (c: { name: string; version: string }): ComponentVersion => deps.catalog.components.get(c.name)!.versions.get(c.version)!;
  /** The environment of root + components (+ the user's): what the Dockerfile's ENV lines would have made. */
  const envOf = (root: PublishedRoot, components: readonly { name: string; version: string }[], user: Record<string, string> = {}) =>
    composeEnv(root.config.config?.Env, components.map((c) => versionOf(c).env), user);

  return {
    publishedRoot,
    rootBase,
    rootRecord,
    resolveLayers,
    layerRecord,
    record,
    view,
    stack,
    envOf,
    versionOf,
    key: (root: PublishedRoot, layers: readonly CompositionLayer[]) => compositionKey(root.diffIds, layers.map((l) => l.diffId)),
    /** Assembles an image (verification or user's) from a verified combination; see composer.ts. */
    assemble: (target: { repository: string; tag: string }, a: Parameters<typeof assembleImage>[2], signal?: AbortSignal, retry?: OutageRetry) =>
      assembleImage(deps.blobs, target, a, signal, retry),
  };
}

export type CompositionService = ReturnType<typeof createCompositionService>;

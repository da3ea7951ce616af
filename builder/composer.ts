// Writes an image straight into the registry, without an engine: the root's layers and the component layers are
// mounted (no bytes move), the binary layer is written by kiln from the upload, then one config and one manifest. The
// same assembly makes a verification image (no binary) and a user's composed image.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGzip, constants as zlib } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { composeConfig, composeManifest, MEDIA, type ComposedLayer, type Descriptor, type ImageConfig } from '../core/composition/image-config.ts';
import { posix } from 'node:path';
import type { FsView } from '../core/composition/layer-index.ts';
import type { MergeEntry } from '../core/composition/merge-layer.ts';
import type { RegistryBlobs } from '../core/registry-blobs.ts';
import { packArchive, verified, writeEntry, type ContextUpload } from './build-context.ts';
import { noOutageRetry, type OutageRetry } from './outage-retry.ts';

/** A root as it stands published in the registry: where its layers can be mounted from, and its config. */
export interface PublishedRoot {
  root: string;
  /** Repository (no host) holding it, e.g. kiln/kiln-roots/debian-bookworm. */
  repository: string;
  imageId: string;
  /** The manifest `current` named when it was read: pulled by this digest where an engine needs it. */
  manifestDigest: string;
  layers: Descriptor[];
  diffIds: string[];
  config: ImageConfig;
}

/** A layer to stack, and the repository its blob can be mounted from. */
export interface StackedLayer extends ComposedLayer {
  from: string;
}

export interface Assembly {
  root: PublishedRoot;
  layers: readonly StackedLayer[];
  /** The user's part, written as the last layer; absent for a verification image. `tar` makes it anew at each call. */
  binary?: { tar: () => AsyncIterable<Buffer>; createdBy: string };
  env: string[];
  entrypoint?: string[];
  cmd?: string[];
  labels: Record<string, string>;
}

/** Gzips a tar stream into a blob of `repository`, hashing both sides (diffID and digest). */
export async function uploadLayer(blobs: Pick<RegistryBlobs, 'upload'>, repository: string, tar: AsyncIterable<Buffer>, signal?: AbortSignal) {
  const hash = createHash('sha256');
  let unpacked = 0;
  async function* counted() {
    for await (const chunk of tar) {
      hash.update(chunk);
      unpacked += chunk.length;
      yield chunk;
    }
  }
  const gzip = createGzip({ level: zlib.Z_BEST_SPEED });
  Readable.from(counted()).pipe(gzip);
  const blob = await blobs.upload(repository, gzip as unknown as AsyncIterable<Buffer>, signal);
  return { mediaType: MEDIA.layer, digest: blob.digest, size: blob.size, diffId: `sha256:${hash.digest('hex')}`, unpackedBytes: unpacked };
}

/**
 * Assembles the image under repository:tag; returns the manifest's digest and what was written. Every registry call is
 * idempotent (a mount or put of what is there already is a no-op; the binary layer's tar is made anew), so `retry`
 * may run each again while the registry is away.
 */
export async function assembleImage(
  blobs: Pick<RegistryBlobs, 'mount' | 'upload' | 'put' | 'putManifest'>,
  target: { repository: string; tag: string },
  a: Assembly,
  signal?: AbortSignal,
  retry: OutageRetry = noOutageRetry,
): Promise<{ digest: string; configDigest: string; binaryLayer?: ComposedLayer & { unpackedBytes: number } }> {
  const mount = async (digest: string, from: string, what: string) => {
    if (!(await retry(`mounting ${digest.slice(0, 19)} into ${target.repository}`, () => blobs.mount(target.repository, digest, [from])))) {
      throw new Error(`${what} ${digest} is not in ${from}`);
    }
  };
  for (const l of a.root.layers) await mount(l.digest, a.root.repository, 'root layer');
  for (const l of a.layers) await mount(l.digest, l.from, `layer (${l.createdBy})`);
  signal?.throwIfAborted();
  let binaryLayer: (ComposedLayer & { unpackedBytes: number }) | undefined;
  const binary = a.binary;
  if (binary) {
    const uploaded = await retry(`uploading the binary layer to ${target.repository}`, () => uploadLayer(blobs, target.repository, binary.tar(), signal));
    binaryLayer = { ...uploaded, createdBy: binary.createdBy };
  }
  const stacked: ComposedLayer[] = [...a.layers, ...(binaryLayer ? [binaryLayer] : [])];
  const config = composeConfig({
    root: a.root.config,
    layers: stacked,
    env: a.env,
    ...(a.entrypoint ? { entrypoint: a.entrypoint } : {}),
    ...(a.cmd ? { cmd: a.cmd } : {}),
    labels: a.labels,
    created: new Date().toISOString(),
  });
  const configBytes = Buffer.from(JSON.stringify(config));
  const configBlob = await retry(`storing the image config in ${target.repository}`, () => blobs.put(target.repository, configBytes));
  const manifest = composeManifest({ mediaType: MEDIA.config, ...configBlob }, [...a.root.layers, ...stacked]);
  signal?.throwIfAborted();
  const digest = await retry(`storing the manifest ${target.repository}:${target.tag}`, () => blobs.putManifest(target.repository, target.tag, manifest, MEDIA.manifest));
  return { digest, configDigest: configBlob.digest, ...(binaryLayer ? { binaryLayer } : {}) };
}

const FIXED_MTIME = new Date(0);

/**
 * The directories above `paths`, with the metadata the composed filesystem gives them. A layer must carry them: an
 * engine applying a layer creates a missing parent as 0755 root, which over a 0700 directory below would change it.
 */
function parentDirs(paths: readonly string[], view: FsView): { name: string; mode: number; uid: number; gid: number }[] {
  const dirs = new Set<string>();
  for (const p of paths) for (let d = posix.dirname(p); d !== '.' && d !== '/'; d = posix.dirname(d)) dirs.add(d);
  return [...dirs].sort().map((d) => {
    const e = view.get(d);
    return { name: `${d}/`, mode: e?.type === 'dir' ? e.mode : 0o755, uid: e?.type === 'dir' ? e.uid : 0, gid: e?.type === 'dir' ? e.gid : 0 };
  });
}

/**
 * The binary layer, as COPY would have made it: the file (mode 0755) or the archive's entries at `path` — already
 * resolved through the image's symlinked directories — with the directories on the way that do not exist yet.
 */
export function binaryLayerTar(upload: ContextUpload, placement: { path: string }, view: FsView): AsyncIterable<Buffer> {
  const pack = tarPack();
  void (async () => {
    try {
      for (const d of parentDirs([placement.path], view)) await writeEntry(pack, { ...d, type: 'directory', mtime: FIXED_MTIME });
      if (upload.kind === 'tar') await packArchive(pack, upload, FIXED_MTIME, placement.path);
      else await writeEntry(pack, { name: placement.path, size: upload.size, mode: 0o755, mtime: FIXED_MTIME }, verified(upload));
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return pack as unknown as AsyncIterable<Buffer>;
}

/** The merge layer's tar: its files, links and whiteouts, in order, with fixed times (same inputs, same bytes). */
export function mergeLayerTar(entries: readonly MergeEntry[], view: FsView): AsyncIterable<Buffer> {
  const pack = tarPack();
  void (async () => {
    try {
      for (const d of parentDirs(entries.map((e) => e.path), view)) await writeEntry(pack, { ...d, type: 'directory', mtime: FIXED_MTIME });
      for (const e of entries) {
        if (e.type === 'file') await writeEntry(pack, { name: e.path, size: e.content.length, mode: e.mode, uid: e.uid, gid: e.gid, mtime: FIXED_MTIME }, [e.content]);
        else if (e.type === 'symlink') await writeEntry(pack, { name: e.path, type: 'symlink', linkname: e.linkname, mode: 0o777, mtime: FIXED_MTIME });
        else {
          const slash = e.path.lastIndexOf('/');
          await writeEntry(pack, { name: `${e.path.slice(0, slash + 1)}.wh.${e.path.slice(slash + 1)}`, size: 0, mode: 0o644, mtime: FIXED_MTIME }, []);
        }
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return pack as unknown as AsyncIterable<Buffer>;
}

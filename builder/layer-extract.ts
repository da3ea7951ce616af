// Takes a component's layer out of the engine and into the registry: reads the image with `docker save` (any engine's
// format, saved-image.ts), finds the component's own layer (placed by the manifest, proven by its hash),
// normalizes it on the way — opaque markers on directories the layer created are dropped, since they would hide
// other layers' files when stacked; other whiteouts are recorded — and streams it, gzipped, as a blob. One pass, no
// temporary files, whatever the layer's size (CUDA's is 5.6 GB).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlib } from 'node:zlib';
import type Docker from 'dockerode';
import { pack as tarPack, type Header } from 'tar-stream';
import { classifyName, FsView, type EntryType, type IndexEntry, type LayerIndex } from '../core/composition/layer-index.ts';
import type { LayerRecord } from '../core/composition/layer-record.ts';
import type { StateFile } from '../core/composition/merge-layer.ts';
import { isMergedState } from '../core/composition/shared-state.ts';
import type { RegistryBlobs } from '../core/registry-blobs.ts';
import { walkTar } from '../core/tar-archive.ts';
import { readSavedImage, SavedImageError } from './saved-image.ts';
import { BuildFailure } from './build-errors.ts';
import { writeEntry } from './build-context.ts';

const entryType = (h: Header): EntryType =>
  h.type === 'file' || h.type === 'contiguous-file' || h.type === undefined ? 'file' : h.type === 'directory' ? 'dir' : h.type === 'symlink' ? 'symlink' : h.type === 'link' ? 'link' : 'other';

/** Passes a stream through while hashing it; `result()` after it ended. */
function hashing(content: AsyncIterable<Buffer>) {
  const hash = createHash('sha256');
  let size = 0;
  let digest: string | undefined;
  return {
    async *stream() {
      for await (const chunk of content) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
      digest = `sha256:${hash.digest('hex')}`;
    },
    result: () => ({ digest: digest!, size }),
  };
}

/** Reads one layer tar, entry by entry: its index, and the content of the shared state files it holds. */
async function readLayer(
  content: AsyncIterable<Buffer>,
  onEntry: (header: Header, kind: ReturnType<typeof classifyName>, body: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  await walkTar(Readable.from(content), (header, body) => onEntry(header, classifyName(header.name), body));
}

/** Index and shared state of one layer, read without writing anything (a root's layers). */
async function recordOf(content: AsyncIterable<Buffer>): Promise<LayerRecord> {
  const index: LayerIndex = { entries: [], whiteouts: [], opaque: [] };
  const state = new Map<string, StateFile>();
  await readLayer(content, async (header, kind, body) => {
    if (kind.kind === 'opaque') index.opaque.push(kind.dir);
    else if (kind.kind === 'whiteout') index.whiteouts.push(kind.target);
    else if (kind.path !== '') {
      const idx = indexing(header, kind.path, body);
      for await (const _ of idx.stream()) void _;
      const { entry, bytes } = idx.result();
      index.entries.push(entry);
      if (bytes) state.set(kind.path, stateOf(entry, bytes, header));
      return;
    }
    for await (const _ of body) void _;
  });
  return { index, state };
}

/**
 * One entry's index line, made while its bytes pass through `stream()` (hashing a file; keeping a shared state
 * file's bytes): consume the stream, then read `result()`.
 */
function indexing(header: Header, path: string, body: AsyncIterable<Buffer>) {
  const type = entryType(header);
  const keep = type === 'file' && isMergedState(path);
  const chunks: Buffer[] = [];
  const hash = createHash('sha256');
  return {
    async *stream(): AsyncGenerator<Buffer> {
      for await (const chunk of body) {
        hash.update(chunk);
        if (keep) chunks.push(chunk);
        yield chunk;
      }
    },
    result(): { entry: IndexEntry; bytes?: Buffer } {
      const entry: IndexEntry = {
        path,
        type,
        mode: (header.mode ?? 0) & 0o7777,
        uid: header.uid ?? 0,
        gid: header.gid ?? 0,
        size: header.size ?? 0,
        ...(type === 'file' ? { sha256: hash.digest('hex') } : {}),
        ...(header.linkname ? { linkname: header.linkname } : {}),
      };
      return keep ? { entry, bytes: Buffer.concat(chunks) } : { entry };
    },
  };
}

const stateOf = (entry: IndexEntry, bytes: Buffer, header: Header): StateFile => ({
  content: bytes,
  mode: entry.mode,
  uid: entry.uid,
  gid: entry.gid,
  ...(header.mtime ? { mtime: Math.floor(header.mtime.getTime() / 1000) } : {}),
});

export interface ImageLayers {
  /** The config's digest (the image id on a graphdriver store; a containerd store names images by manifest). */
  imageId: string;
  diffIds: string[];
  /** Each layer's tar size, by diffID. */
  sizes: Record<string, number>;
  /** The image's filesystem as one record (the view of all its layers; the top-most copy of each shared file). */
  record: LayerRecord;
}

/** Opens `docker save` of an image; `signal` ends the stream. */
async function saveStream(docker: Docker, image: string, signal?: AbortSignal) {
  const saved = (await docker.getImage(image).get()) as unknown as NodeJS.ReadableStream & { destroy(): void };
  const stop = () => saved.destroy();
  signal?.addEventListener('abort', stop, { once: true });
  return { saved, done: () => signal?.removeEventListener('abort', stop) };
}

/** Reads a whole local image (a root) with `docker save`: its layers' sizes and one flattened record. */
export async function recordImage(docker: Docker, image: string): Promise<ImageLayers> {
  const { saved } = await saveStream(docker, image);
  const layout = await readSavedImage(saved, {
    image,
    onLayer: async (layer) => {
      let size = 0;
      async function* counted() {
        for await (const chunk of layer.tar) {
          size += chunk.length;
          yield chunk;
        }
      }
      const record = await recordOf(counted());
      return { record, size };
    },
  });
  const view = new FsView();
  const state = new Map<string, StateFile>();
  const sizes: Record<string, number> = {};
  for (const l of layout.layers) {
    if (!l.result) throw new BuildFailure(`docker save of ${image} did not hold its layer ${l.diffId}`, true);
    sizes[l.diffId] = l.result.size;
    view.apply(l.result.record.index);
    for (const [p, f] of l.result.record.state) state.set(p, f);
  }
  const entries = [...view.paths()].map((p) => view.get(p)!);
  return { imageId: layout.configDigest, diffIds: layout.layers.map((l) => l.diffId), sizes, record: { index: { entries, whiteouts: [], opaque: [] }, state } };
}

export interface ExtractedLayer {
  digest: string;
  /** gzip bytes */
  size: number;
  diffId: string;
  unpackedBytes: number;
  record: LayerRecord;
  droppedMarkers: number;
}

/** One candidate layer being normalized into a blob upload: kept if its raw hash proves it the top layer, else dropped. */
function normalizedUpload(deps: { blobs: Pick<RegistryBlobs, 'upload'> }, opts: { baseView: FsView; repository: string; signal: AbortSignal }) {
  const index: LayerIndex = { entries: [], whiteouts: [], opaque: [] };
  const state = new Map<string, StateFile>();
  let dropped = 0;
  const pack = tarPack();
  const packed = hashing(pack as unknown as AsyncIterable<Buffer>);
  const gzip = createGzip({ level: zlib.Z_BEST_SPEED }); // the registry is usually near; CPU is the bottleneck
  pipeline(Readable.from(packed.stream()), gzip).catch((err: Error) => gzip.destroy(err));
  const uploading = deps.blobs.upload(opts.repository, gzip as unknown as AsyncIterable<Buffer>, opts.signal);
  // A failed upload tears the pack down under the writer ("tar entry destroyed"): its own error is the one to tell.
  let uploadError: Error | undefined;
  uploading.catch((err: Error) => void (uploadError = err));

  return {
    /** Normalizes one raw layer entry into the pack (see extractTopLayer for what normalizing means). */
    async entry(h: Header, kind: ReturnType<typeof classifyName>, content: AsyncIterable<Buffer>): Promise<void> {
      try {
        await this.write(h, kind, content);
      } catch (err) {
        await new Promise((r) => setImmediate(r));
        throw uploadError ?? err;
      }
    },
    async write(h: Header, kind: ReturnType<typeof classifyName>, content: AsyncIterable<Buffer>): Promise<void> {
      if (kind.kind === 'opaque' && !opts.baseView.hasDir(kind.dir)) {
        // The layer created this directory: the marker hides nothing here, but would hide other layers' files.
        dropped++;
        for await (const _ of content) void _;
        return;
      }
      if (kind.kind === 'opaque') index.opaque.push(kind.dir);
      if (kind.kind === 'whiteout') {
        index.whiteouts.push(kind.target);
        if (isMergedState(kind.target)) state.set(kind.target, null);
      }
      if (kind.kind !== 'entry' || kind.path === '') return writeEntry(pack, h, content);
      // The pack pulls the bytes (so a slow gzip slows the save stream, never memory), indexing them on the way.
      const idx = indexing(h, kind.path, content);
      await writeEntry(pack, h, idx.stream());
      const { entry, bytes } = idx.result();
      index.entries.push(entry);
      if (bytes) state.set(kind.path, stateOf(entry, bytes, h));
    },
    async finish(): Promise<ExtractedLayer> {
      pack.finalize();
      const blob = await uploading;
      const { digest: diffId, size: unpackedBytes } = packed.result();
      return { digest: blob.digest, size: blob.size, diffId, unpackedBytes, record: { index, state }, droppedMarkers: dropped };
    },
    /** Not the top layer (or stopped): the upload is given up and its session closed. */
    async abandon(why: Error): Promise<void> {
      pack.destroy(why);
      gzip.destroy(why);
      await uploading.catch(() => undefined);
    },
  };
}

/**
 * The top layer of `image`, normalized and uploaded to `repository`. `image` was built FROM the root (`base.diffIds`:
 * its layers; `base.blobs`: the digests its layers may be saved under, compressed) plus, for a component that requires
 * others, their install steps; `baseView` is the filesystem below the top layer. The saved archive names its layers
 * only at its end (saved-image.ts), so every layer entry that is not the root's is a candidate, normalized on the way,
 * and its hash tells whether it is the top layer (kept) or a step below it (dropped: a few seconds of work for a
 * required component's layer); at the end the manifest must place the kept entry on top, over the root's layers.
 */
export async function extractTopLayer(
  deps: { docker: Docker; blobs: Pick<RegistryBlobs, 'upload'> },
  opts: { image: string; base: { diffIds: readonly string[]; blobs: readonly string[] }; baseView: FsView; repository: string; signal: AbortSignal },
): Promise<ExtractedLayer> {
  const info = await deps.docker.getImage(opts.image).inspect();
  const diffIds = info.RootFS.Layers ?? [];
  const topDiffId = diffIds.at(-1);
  if (!topDiffId) throw new BuildFailure(`image ${opts.image} has no layers`, false);
  if (opts.base.diffIds.some((d, i) => diffIds[i] !== d)) throw new BuildFailure(`image ${opts.image} does not stand on the root it was built FROM`, false);
  const below = new Set([...diffIds.slice(0, -1), ...opts.base.blobs]);
  below.delete(topDiffId); // a layer identical to one below it (an empty step) is still the one to take

  let found: { entry: string; layer: ExtractedLayer } | undefined;
  let current: ReturnType<typeof normalizedUpload> | undefined;
  const { saved, done } = await saveStream(deps.docker, opts.image, opts.signal);
  try {
    const layout = await readSavedImage(saved, {
      // Where the name says which layer an entry holds (uncompressed blobs are named by diffID, pulled ones by the
      // registry's digest), the layers below the top are passed over unread.
      skip: (e) => e.blobDigest !== undefined && below.has(e.blobDigest),
      onLayer: async (layer) => {
        if (found) return;
        const candidate = (current = normalizedUpload(deps, opts));
        await readLayer(layer.tar, (h, kind, content) => candidate.entry(h, kind, content));
        current = undefined;
        if (layer.diffId() === topDiffId) found = { entry: layer.name, layer: await candidate.finish() };
        else await candidate.abandon(new Error('not the top layer'));
      },
    });
    const top = layout.layers.at(-1);
    if (!found || !top || top.entry !== found.entry || top.diffId !== topDiffId) {
      throw new BuildFailure(`docker save of ${opts.image} (${layout.format}) did not hold its top layer ${topDiffId}`, true);
    }
    return found.layer;
  } catch (err) {
    await current?.abandon(err as Error);
    throw opts.signal.aborted ? opts.signal.reason : err instanceof SavedImageError ? new BuildFailure(`docker save of ${opts.image}: ${err.message}`, false, { cause: err }) : err;
  } finally {
    done();
  }
}

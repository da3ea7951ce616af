// Takes a component's layer out of the engine and into the registry: reads the image with `docker save`, finds the
// component's own layer (its base layers are told apart by their known sizes, and the choice is proven by the hash),
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
      if (bytes) state.set(kind.path, stateOf(entry, bytes));
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

const stateOf = (entry: IndexEntry, bytes: Buffer): StateFile => ({ content: bytes, mode: entry.mode, uid: entry.uid, gid: entry.gid });

export interface ImageLayers {
  imageId: string;
  diffIds: string[];
  sizes: Record<string, number>;
  /** The image's filesystem as one record (the view of all its layers; the top-most copy of each shared file). */
  record: LayerRecord;
}

/** Reads a whole local image (a root) with `docker save`: its layers' sizes and one flattened record. */
export async function recordImage(docker: Docker, image: string): Promise<ImageLayers> {
  const info = await docker.getImage(image).inspect();
  const diffIds = info.RootFS.Layers ?? [];
  const byDiffId = new Map<string, { size: number; record: LayerRecord }>();
  const saved = (await docker.getImage(image).get()) as unknown as NodeJS.ReadableStream & { destroy(): void };
  await walkTar(saved, async (header, body) => {
    if (!header.name.endsWith('/layer.tar')) {
      for await (const _ of body) void _;
      return;
    }
    const tee = hashing(body);
    const record = await recordOf(tee.stream());
    const { digest, size } = tee.result();
    byDiffId.set(digest, { size, record });
  });
  const view = new FsView();
  const state = new Map<string, StateFile>();
  const sizes: Record<string, number> = {};
  for (const d of diffIds) {
    const layer = byDiffId.get(d);
    if (!layer) throw new BuildFailure(`docker save of ${image} did not hold its layer ${d}`, true);
    sizes[d] = layer.size;
    view.apply(layer.record.index);
    for (const [p, f] of layer.record.state) state.set(p, f);
  }
  const entries = [...view.paths()].map((p) => view.get(p)!);
  return { imageId: info.Id, diffIds, sizes, record: { index: { entries, whiteouts: [], opaque: [] }, state } };
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
      if (bytes) state.set(kind.path, stateOf(entry, bytes));
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
 * The top layer of `image`, normalized and uploaded to `repository`. `image` was built FROM the root (whose layers'
 * tar sizes are `rootSizes`) plus, for a component that requires others, their install steps; `baseView` is the
 * filesystem below the top layer. `docker save` holds the layers in no useful order, so every layer that is not the
 * root's is a candidate, normalized on the way; its raw hash tells whether it was the top layer (kept) or one of the
 * steps below it (dropped: a few seconds of work for a required component's layer).
 */
export async function extractTopLayer(
  deps: { docker: Docker; blobs: Pick<RegistryBlobs, 'upload'> },
  opts: { image: string; rootSizes: ReadonlySet<number>; baseView: FsView; repository: string; signal: AbortSignal },
): Promise<ExtractedLayer> {
  const info = await deps.docker.getImage(opts.image).inspect();
  const topDiffId = info.RootFS.Layers?.at(-1);
  if (!topDiffId) throw new BuildFailure(`image ${opts.image} has no layers`, false);

  let found: ExtractedLayer | undefined;
  let current: ReturnType<typeof normalizedUpload> | undefined;
  const saved = (await deps.docker.getImage(opts.image).get()) as unknown as NodeJS.ReadableStream & { destroy(): void };
  const stop = () => saved.destroy();
  opts.signal.addEventListener('abort', stop, { once: true });
  try {
    await walkTar(saved, async (header, body) => {
      if (!header.name.endsWith('/layer.tar') || opts.rootSizes.has(header.size ?? -1) || found) {
        for await (const _ of body) void _;
        return;
      }
      const candidate = (current = normalizedUpload(deps, opts));
      const raw = hashing(body);
      await readLayer(raw.stream(), (h, kind, content) => candidate.entry(h, kind, content));
      current = undefined;
      if (raw.result().digest === topDiffId) found = await candidate.finish();
      else await candidate.abandon(new Error('not the top layer'));
    });
    if (!found) throw new BuildFailure(`docker save of ${opts.image} did not hold its top layer ${topDiffId}`, true);
    return found;
  } catch (err) {
    await current?.abandon(err as Error);
    throw opts.signal.aborted ? opts.signal.reason : err;
  } finally {
    opts.signal.removeEventListener('abort', stop);
  }
}

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
import type { MergeEntry, MergePlan } from '../core/composition/merge-layer.ts';
import type { RegistryBlobs } from '../core/registry-blobs.ts';
import { ArchivePlacer, dirMeta, type Placement } from '../core/composition/binary-placement.ts';
import { cleanPath, type IndexEntry, type LayerIndex } from '../core/composition/layer-index.ts';
import { packArchive, verified, writeEntry, type ArchiveLayout, type ContextUpload, type EntryHeader } from './build-context.ts';
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
  /** Judges the image once its binary layer is written and before any manifest names it; throws to push nothing. */
  check?: () => Promise<void>;
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
  await a.check?.();
  signal?.throwIfAborted();
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

/** Executables whose first bytes the binary layer keeps for the final check, and how many bytes of each. */
const HEAD_FILES = 1024;
const HEAD_BYTES = 4096;

/**
 * What a binary layer wrote, for the check of the final image (core/image-check.ts): its entries as a layer index, and
 * the first bytes of its executables (a `#!` line, an ELF's interpreter), at most HEAD_FILES of them.
 */
export class BinaryLayerRecord {
  readonly entries: IndexEntry[] = [];
  readonly heads = new Map<string, Buffer>();

  add(h: EntryHeader): void {
    const type = h.type === 'directory' ? 'dir' : h.type === 'symlink' ? 'symlink' : h.type === 'link' ? 'link' : 'file';
    const p = cleanPath(h.name);
    if (p === '') return;
    this.entries.push({ path: p, type, mode: h.mode ?? 0o644, uid: h.uid ?? 0, gid: h.gid ?? 0, size: h.size ?? 0, ...(h.linkname ? { linkname: type === 'link' ? cleanPath(h.linkname) : h.linkname } : {}) });
  }

  /** Passes `content` through, keeping its first bytes when it is an executable. */
  tap(name: string, mode: number, content: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
    if ((mode & 0o111) === 0 || this.heads.size >= HEAD_FILES) return content;
    const heads = this.heads;
    const p = cleanPath(name);
    return (async function* () {
      let head = Buffer.alloc(0);
      for await (const chunk of content) {
        if (head.length < HEAD_BYTES) head = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.length)]);
        yield chunk;
      }
      heads.set(p, head);
    })();
  }

  index(): LayerIndex {
    return { entries: this.entries, whiteouts: [], opaque: [] };
  }
}

/**
 * The binary layer, as COPY would have made it (core/composition/binary-placement.ts): the file (mode 0755) at its
 * placement, or the archive's entries in its directory — each resolved through the image's symlinked directories,
 * never replacing a directory or link the image holds — with the directories on the way, which keep the image's
 * metadata where the image holds them.
 */
export function binaryLayerTar(upload: ContextUpload, placement: Placement, view: FsView, record = new BinaryLayerRecord()): AsyncIterable<Buffer> {
  const pack = tarPack();
  const write = (h: EntryHeader, content?: AsyncIterable<Buffer>) => {
    record.add(h);
    return writeEntry(pack, h, content);
  };
  void (async () => {
    try {
      for (const d of parentDirs([placement.path], view)) await write({ ...d, type: 'directory', mtime: FIXED_MTIME });
      if (placement.kind === 'dir') await packArchive(pack, upload, FIXED_MTIME, placement.path, archiveLayout(placement, view, record));
      else {
        const h: EntryHeader = { name: placement.path, size: upload.size, mode: 0o755, mtime: FIXED_MTIME };
        await write(h, record.tap(h.name, 0o755, verified(upload)));
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return pack as unknown as AsyncIterable<Buffer>;
}

/** An archive laid out over the image: see ArchivePlacer. */
function archiveLayout(placement: Extract<Placement, { kind: 'dir' }>, view: FsView, record: BinaryLayerRecord): ArchiveLayout {
  const placer = new ArchivePlacer(view, placement.path);
  // The target and the directories above it are written first (parentDirs); an entry placed elsewhere through a link
  // gets the directories above it written before it, once each.
  const written = new Set<string>(['']);
  for (let d = placement.path; d !== '' && d !== '.'; d = posix.dirname(d)) written.add(d);
  const meta = placement.existing ? dirMeta(view, placement.path) : { mode: 0o755, uid: 0, gid: 0 };
  const root: EntryHeader | null = placement.path === '' ? null : { name: `${placement.path}/`, type: 'directory', ...meta, mtime: FIXED_MTIME };
  if (root) record.add(root);
  return {
    root,
    headers(entry, header) {
      const placed = placer.place(entry);
      const out: EntryHeader[] = [];
      const above: string[] = [];
      for (let d = posix.dirname(placed.path); d !== '.' && d !== '' && !written.has(d); d = posix.dirname(d)) above.unshift(d);
      for (const d of above) {
        written.add(d);
        out.push({ name: `${d}/`, type: 'directory', ...dirMeta(view, d), mtime: FIXED_MTIME });
      }
      if (entry.type === 'directory') written.add(placed.path);
      out.push({
        ...header,
        name: entry.type === 'directory' ? `${placed.path}/` : placed.path,
        ...(placed.keep ?? {}),
        ...(entry.type === 'link' ? { linkname: placer.landed(entry.linkname!) } : {}),
      });
      for (const h of out) record.add(h);
      return out;
    },
    tap: (name, mode, content) => record.tap(name, mode, content),
  };
}

/** The merge layer's tar: its files, links and whiteouts, in order, dated by the plan (same inputs, same bytes). */
export function mergeLayerTar(plan: Pick<MergePlan, 'entries' | 'mtime'>, view: FsView): AsyncIterable<Buffer> {
  const pack = tarPack();
  const time = new Date(plan.mtime * 1000); // see MergePlan.mtime: the layers' time, so the same layers, the same bytes
  void (async () => {
    try {
      for (const d of parentDirs(plan.entries.map((e) => e.path), view)) await writeEntry(pack, { ...d, type: 'directory', mtime: time });
      for (const e of plan.entries) {
        if (e.type === 'file') await writeEntry(pack, { name: e.path, size: e.content.length, mode: e.mode, uid: e.uid, gid: e.gid, mtime: new Date(e.mtime * 1000) }, [e.content]);
        else if (e.type === 'symlink') await writeEntry(pack, { name: e.path, type: 'symlink', linkname: e.linkname, mode: 0o777, mtime: time });
        else {
          const slash = e.path.lastIndexOf('/');
          await writeEntry(pack, { name: `${e.path.slice(0, slash + 1)}.wh.${e.path.slice(slash + 1)}`, size: 0, mode: 0o644, mtime: time }, []);
        }
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return pack as unknown as AsyncIterable<Buffer>;
}

// Reads what an engine's `docker save` writes, whichever engine wrote it, in one pass over the stream:
//   docker-archive  Docker < 25: `<id>/layer.tar` (uncompressed; a layer saved twice is a symlink to the first),
//                   `<config hex>.json`, `manifest.json`
//   OCI layout      Docker ≥ 25 (moby#44598): `blobs/sha256/<hex>`, `index.json`, `oci-layout`, and a `manifest.json`
//                   whose `Layers` name blobs. The overlay2 store writes layers uncompressed (a blob's name is then
//                   its diffID); the containerd image store writes them as they are stored (gzip, or zstd) and its
//                   `index.json` may point at an image index; a layout without `manifest.json` is read through
//                   `index.json` alone.
// Every engine writes the manifest after the blobs (they are sorted by name), so which entry is which layer is known
// only at the end: each layer entry is handed over decompressed as it passes, its diffID hashed on the way, and the
// manifest read at the end places every entry read at its position and proves its hash against the config's
// diff_ids.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { Header } from 'tar-stream';
import { walkTar } from '../core/tar-archive.ts';

export type SavedFormat = 'docker-archive' | 'oci-layout';
export type Compression = 'none' | 'gzip' | 'zstd';

/** A layer entry as the stream passes it. */
export interface SavedLayer {
  /** Its name in the archive (`<id>/layer.tar`, `blobs/sha256/<hex>`). */
  name: string;
  compression: Compression;
  /** The layer's tar, decompressed: consume it (or leave it; the reader reads what is left). */
  tar: AsyncIterable<Buffer>;
  /** The layer's diffID (sha256 of `tar`), once `tar` has been read to its end. */
  diffId(): string;
}

export interface SavedImage<T> {
  format: SavedFormat;
  /** The config blob's digest: the image id on a graphdriver store (a containerd store names images by manifest). */
  configDigest: string;
  /** The image's layers, bottom first: the config's diff_ids beside the archive entries holding them. */
  layers: { diffId: string; entry: string; compression?: Compression; read: boolean; result?: T }[];
}

/** An entry the caller may pass over unread: its name, and the digest a blob's name states. */
export interface SavedEntry {
  name: string;
  blobDigest?: string;
  size: number;
}

export class SavedImageError extends Error {
  override name = 'SavedImageError';
}

/** Small JSON documents (manifests, configs, indexes) are kept in memory; nothing of that kind is larger. */
const MAX_JSON_BYTES = 16 * 1024 * 1024;
const LEGACY_LAYER = /^([0-9a-f]{64})\/layer\.tar$/;
const LEGACY_CONFIG = /^([0-9a-f]{64})\.json$/;
const BLOB = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/;
const TOP_FILES = new Set(['manifest.json', 'index.json', 'oci-layout', 'repositories']);

const clean = (name: string) => posix.normalize(name).replace(/^(\.\/)+/, '').replace(/^\/+/, '');

/** The first `n` bytes of a stream (fewer if it is shorter) and the whole stream again. */
async function peek(body: AsyncIterable<Buffer>, n: number): Promise<{ head: Buffer; all: AsyncIterable<Buffer> }> {
  const it = body[Symbol.asyncIterator]();
  const first: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    first.push(r.value);
    have += r.value.length;
  }
  const head = Buffer.concat(first);
  async function* all() {
    if (head.length > 0) yield head;
    if (ended) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return { head, all: all() };
}

const isTarHeader = (b: Buffer) => b.length >= 512 && (b.subarray(257, 262).toString('latin1') === 'ustar' || b.subarray(0, 512).every((x) => x === 0));

function sniff(head: Buffer): Compression | 'json' | 'tar' | 'other' {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  const text = head.subarray(0, 64).toString('latin1').trimStart();
  if (text.startsWith('{') || text.startsWith('[')) return 'json';
  return isTarHeader(head) ? 'tar' : 'other';
}

function decompress(all: AsyncIterable<Buffer>, compression: Compression): { tar: AsyncIterable<Buffer>; done: Promise<void> } {
  if (compression === 'none') return { tar: all, done: Promise.resolve() };
  const make = compression === 'gzip' ? zlib.createGunzip : (zlib as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress;
  if (!make) throw new SavedImageError('the engine saved zstd-compressed layers, and this Node.js cannot decompress zstd (it needs Node.js ≥ 22.15)');
  const z = make() as unknown as NodeJS.ReadWriteStream & { destroy(err?: Error): void };
  const done = pipeline(Readable.from(all), z).catch((err: Error) => {
    z.destroy(err);
    throw err;
  });
  done.catch(() => undefined); // surfaced by the reader of `tar` (the gunzip stream errors) or awaited below
  return { tar: z as unknown as AsyncIterable<Buffer>, done };
}

/** Passes a stream through while hashing it. */
function hashed(content: AsyncIterable<Buffer>) {
  const hash = createHash('sha256');
  let digest: string | undefined;
  return {
    async *stream() {
      for await (const chunk of content) {
        hash.update(chunk);
        yield chunk;
      }
      digest = `sha256:${hash.digest('hex')}`;
    },
    digest: () => digest,
  };
}

async function drain(body: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of body) void _;
}

async function collect(body: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > limit) throw new SavedImageError(`${what} is larger than ${limit} bytes: not a document of a saved image`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new SavedImageError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  platform?: { os?: string; architecture?: string };
}

const isIndex = (doc: { mediaType?: string; manifests?: unknown }) => Array.isArray(doc.manifests);

/**
 * Reads a saved image. `onLayer` gets every layer entry that `skip` does not pass over, decompressed, and returns
 * what it made of it; the result places each entry at its position in the image and is proven: a layer read hashes
 * to the diffID the config gives its position. `image` picks among several images (a tag, or the image's id).
 */
export async function readSavedImage<T>(
  stream: NodeJS.ReadableStream & { destroy(): void },
  opts: { onLayer: (layer: SavedLayer) => Promise<T>; skip?: (entry: SavedEntry) => boolean; image?: string },
): Promise<SavedImage<T>> {
  const docs = new Map<string, unknown>(); // top files by name, blobs by digest, legacy configs by file name
  const read = new Map<string, { diffId: string; compression: Compression; result: T }>();
  const symlinks = new Map<string, string>(); // legacy: a layer saved twice links to its first copy

  const layer = async (name: string, compression: Compression, all: AsyncIterable<Buffer>) => {
    const { tar, done } = decompress(all, compression);
    const h = hashed(tar);
    const it = h.stream();
    const result = await opts.onLayer({
      name,
      compression,
      tar: it,
      diffId: () => h.digest() ?? (() => { throw new Error(`layer ${name} was not read to its end`); })(),
    });
    await drain(it); // what onLayer left unread (it is still hashed: every layer read is proven)
    await done;
    read.set(name, { diffId: h.digest()!, compression, result });
  };

  await walkTar(stream, async (header: Header, body) => {
    const name = clean(header.name);
    const size = header.size ?? 0;
    if (header.type === 'directory') return drain(body);
    const legacy = LEGACY_LAYER.exec(name);
    if (legacy && header.type === 'symlink') {
      symlinks.set(name, clean(posix.join(posix.dirname(name), header.linkname ?? '')));
      return drain(body);
    }
    if (header.type !== 'file' && header.type !== 'contiguous-file' && header.type !== undefined) return drain(body);
    if (TOP_FILES.has(name) || LEGACY_CONFIG.test(name)) {
      docs.set(name, await collect(body, MAX_JSON_BYTES, name));
      return;
    }
    if (legacy) {
      if (opts.skip?.({ name, size })) return drain(body);
      return layer(name, 'none', body);
    }
    const blob = BLOB.exec(name);
    if (!blob) return drain(body); // legacy `<id>/json` and `VERSION`, anything else an engine adds
    const blobDigest = `${blob[1]}:${blob[2]}`;
    if (opts.skip?.({ name, blobDigest, size })) return drain(body);
    const { head, all } = await peek(body, 512);
    const kind = sniff(head);
    if (kind === 'json' && size <= MAX_JSON_BYTES) {
      const bytes = await collect(all, MAX_JSON_BYTES, name);
      try {
        docs.set(blobDigest, JSON.parse(bytes.toString('utf8')));
        return;
      } catch {
        // Not JSON after all: a layer tar whose first name starts with `{`.
        if (!isTarHeader(bytes)) return;
        return layer(name, 'none', [bytes] as unknown as AsyncIterable<Buffer>);
      }
    }
    if (kind === 'gzip' || kind === 'zstd') return layer(name, kind, all);
    if (kind === 'tar') return layer(name, 'none', all);
    return drain(all); // signatures, attestations: nothing an image's filesystem is made of
  });

  const placed = place(docs, opts.image);
  const layers = placed.layers.map(({ diffId, entry: raw }) => {
    const entry = symlinks.get(raw) ?? raw;
    const got = read.get(entry);
    if (got && got.diffId !== diffId) throw new SavedImageError(`the saved layer ${entry} hashes to ${got.diffId}, but the image's config gives its position the diffID ${diffId}`);
    return got ? { diffId, entry, compression: got.compression, read: true, result: got.result } : { diffId, entry, read: false };
  });
  return { format: placed.format, configDigest: placed.configDigest, layers };
}

const blobName = (digest: string) => `blobs/${digest.replace(':', '/')}`;

/** Which entry holds which layer, from the documents the archive ends with. */
function place(docs: Map<string, unknown>, image?: string): { format: SavedFormat; configDigest: string; layers: { diffId: string; entry: string }[] } {
  const doc = (key: string, what: string) => {
    const d = docs.get(key);
    if (d === undefined) throw new SavedImageError(`the saved image has no ${what} (${key})`);
    return Buffer.isBuffer(d) ? parseJson(d, key) : d;
  };
  const configOf = (c: unknown, what: string) => {
    const diffIds = (c as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string')) throw new SavedImageError(`${what} has no rootfs.diff_ids`);
    return diffIds as string[];
  };
  const blobOrFile = (name: string): string => {
    const b = BLOB.exec(name);
    return b ? `${b[1]}:${b[2]}` : name;
  };

  if (docs.has('manifest.json')) {
    // Docker's own manifest: one entry per image, each naming its config and its layers in order.
    const list = doc('manifest.json', 'manifest') as { Config: string; RepoTags?: string[] | null; Layers: string[] }[];
    if (!Array.isArray(list) || list.length === 0) throw new SavedImageError('manifest.json lists no image');
    const pick = image ? list.find((m) => (m.RepoTags ?? []).includes(image) || m.Config.includes(image.replace(/^sha256:/, ''))) : list[0];
    if (!pick || (list.length > 1 && !image)) throw new SavedImageError(`manifest.json lists ${list.length} images and none is ${image ?? '(unnamed)'}`);
    const configKey = blobOrFile(clean(pick.Config));
    const diffIds = configOf(doc(configKey, 'config'), pick.Config);
    const entries = pick.Layers.map(clean);
    if (entries.length !== diffIds.length) throw new SavedImageError(`manifest.json lists ${entries.length} layers, the config ${diffIds.length}`);
    const legacyConfig = LEGACY_CONFIG.exec(configKey);
    const configDigest = legacyConfig ? `sha256:${legacyConfig[1]}` : configKey;
    return { format: entries.every((e) => LEGACY_LAYER.test(e)) ? 'docker-archive' : 'oci-layout', configDigest, layers: diffIds.map((diffId, i) => ({ diffId, entry: entries[i]! })) };
  }

  // An OCI layout alone: index.json → (image indexes →) the image manifest → its config.
  let node = doc('index.json', 'index') as { manifests?: Descriptor[]; mediaType?: string };
  for (let depth = 0; isIndex(node); depth++) {
    if (depth > 4) throw new SavedImageError('index.json nests image indexes too deep');
    const ms = (node.manifests ?? []).filter((m) => !m.mediaType?.includes('attestation') && (m.platform?.os ?? 'linux') !== 'unknown');
    const linux = ms.filter((m) => !m.platform || (m.platform.os === 'linux' && m.platform.architecture === 'amd64'));
    const choice = ms.find((m) => m.digest === image) ?? (ms.length === 1 ? ms[0] : linux[0]);
    if (!choice) throw new SavedImageError(`index.json lists ${ms.length} images and none is ${image ?? 'linux/amd64'}`);
    node = doc(choice.digest, `manifest ${choice.digest}`) as typeof node;
  }
  const manifest = node as { config?: Descriptor; layers?: Descriptor[] };
  if (!manifest.config || !Array.isArray(manifest.layers)) throw new SavedImageError('the image manifest has no config or layers');
  const diffIds = configOf(doc(manifest.config.digest, `config ${manifest.config.digest}`), 'the config');
  if (manifest.layers.length !== diffIds.length) throw new SavedImageError(`the manifest lists ${manifest.layers.length} layers, the config ${diffIds.length}`);
  return { format: 'oci-layout', configDigest: manifest.config.digest, layers: diffIds.map((diffId, i) => ({ diffId, entry: blobName(manifest.layers![i]!.digest) })) };
}

// Archive uploads: reads a tar (gzipped or not) as it streams and refuses anything that could write outside the
// directory it is unpacked into, or unpack to more than the limits. The api runs it while the upload streams to S3;
// the builder runs it again while re-packing the entries into the build context (never Docker's ADD auto-extract).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';

export interface ArchiveLimits {
  /** Entries (files, directories, links) an archive may hold. */
  maxEntries: number;
  /** Bytes of tar the archive may unpack to (after gunzip; headers included): caps tar and gzip bombs. */
  maxUnpackedBytes: number;
}

export interface ArchiveSummary {
  entries: number;
  /** Bytes of tar after gunzip. */
  unpackedBytes: number;
  gzip: boolean;
}

/** An accepted entry: its normalized path (no leading ./, no trailing /) and, for links, the normalized target. */
export interface ArchiveEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  mode: number;
  size: number;
  mtime: Date | undefined;
  /** symlink: the target as written (relative); link: the normalized path of the earlier entry it repeats. */
  linkname?: string;
}

/**
 * Why an archive is refused. `limit`: it unpacks to too much (a bomb); `entry`: one entry is not allowed, and
 * `entry`/`index` name it; `malformed`: the bytes are not a tar (or gzip) stream.
 */
export class ArchiveRefused extends Error {
  constructor(
    readonly reason: 'limit' | 'entry' | 'malformed',
    message: string,
    readonly entry?: { index: number; name: string },
  ) {
    super(message);
    this.name = 'ArchiveRefused';
  }
}

/** The prefix the OCI layer format reserves for whiteouts (core/composition/layer-index.ts reads it). */
const WHITEOUT_PREFIX = '.wh.';
const MAX_PATH_BYTES = 4096;
const MAX_SEGMENT_BYTES = 255;
const MAX_SYMLINK_HOPS = 40;
// Control characters (a newline in a name ends a line in every log and listing) and backslashes (a separator to
// Windows tools: `..\..\x`) have no place in a name kiln unpacks.
const badNameChars = /[\u0000-\u001f\u007f\\]/;

/** A name as it will be unpacked, or why it cannot be. Pure. */
export function normalizeEntryName(raw: string): { path: string } | { problem: string } {
  if (raw === '') return { problem: 'has an empty name' };
  if (badNameChars.test(raw)) return { problem: 'has control characters or a backslash in its name' };
  if (raw.startsWith('/')) return { problem: 'is an absolute path' };
  if (Buffer.byteLength(raw) > MAX_PATH_BYTES) return { problem: `has a name longer than ${MAX_PATH_BYTES} bytes` };
  let name = raw;
  while (name.startsWith('./')) name = name.slice(2);
  name = name.replace(/\/+$/, '');
  if (name === '' || name === '.') return { path: '' }; // the archive's own root directory
  for (const segment of name.split('/')) {
    if (segment === '..') return { problem: 'escapes the target directory (a ".." segment)' };
    if (segment === '' || segment === '.') return { problem: 'has an empty or "." segment in its name' };
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return { problem: `has a name segment longer than ${MAX_SEGMENT_BYTES} bytes` };
    // An image layer reads `.wh.<name>` as "delete <name> from the layers below" (and `.wh..wh..opq` as "hide this
    // directory's lower content"): unpacked into a layer, such an entry deletes the image's files instead of adding one.
    if (segment.startsWith(WHITEOUT_PREFIX)) return { problem: `has a name segment starting with "${WHITEOUT_PREFIX}", which image layers reserve for deletions (whiteouts)` };
  }
  return { path: name };
}

/**
 * The checks that need more than one header: duplicates, hardlinks to earlier files, entries written through a
 * symlink of the same archive, and where every symlink finally points (followed through the archive's own links).
 */
export class TreeCheck {
  private readonly kinds = new Map<string, ArchiveEntry['type']>();
  private readonly symlinks = new Map<string, string>();
  private readonly indexOf = new Map<string, number>();
  /** Every path some entry sits inside: each must unpack as a directory (explicit or implied). */
  private readonly impliedDirs = new Set<string>();

  /** Undefined when the entry may stand, else why not. */
  add(entry: ArchiveEntry, index: number): string | undefined {
    const earlier = this.kinds.get(entry.path);
    if (earlier !== undefined && !(earlier === 'directory' && entry.type === 'directory')) return `appears twice in the archive`;
    // A file and a path inside it cannot both be unpacked: the engine fails the build with "not a directory" (an
    // HTTP 500 that looks like an engine fault). Refused here, whichever comes first. Symlinked ancestors are judged
    // in finish(), which knows where they point.
    if (entry.type !== 'directory' && this.impliedDirs.has(entry.path)) {
      return `is a ${entry.type === 'link' ? 'hardlink' : entry.type}, but earlier entries sit inside "${entry.path}/" as a directory`;
    }
    const parts = entry.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join('/');
      const kind = this.kinds.get(ancestor);
      if (kind === 'file' || kind === 'link') return `would be written inside "${ancestor}", which the archive holds as a file`;
      this.impliedDirs.add(ancestor);
    }
    if (entry.type === 'symlink') {
      const target = entry.linkname ?? '';
      if (target === '') return 'is a symlink without a target';
      if (badNameChars.test(target)) return 'is a symlink whose target has control characters or a backslash';
      if (target.startsWith('/')) return `is a symlink to an absolute path ("${target}"), outside the target directory`;
      this.symlinks.set(entry.path, target);
    }
    if (entry.type === 'link') {
      if (this.kinds.get(entry.linkname ?? '') !== 'file') return `is a hardlink to "${entry.linkname}", which is not an earlier file of the archive`;
    }
    this.kinds.set(entry.path, entry.type);
    this.indexOf.set(entry.path, index);
    return undefined;
  }

  /** After the last entry: the first entry that breaks a rule across entries, if any. */
  finish(): { index: number; name: string; problem: string } | undefined {
    for (const path of this.kinds.keys()) {
      const parts = path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const ancestor = parts.slice(0, i).join('/');
        if (this.symlinks.has(ancestor)) {
          return { index: this.indexOf.get(path)!, name: path, problem: `would be written through the symlink "${ancestor}"` };
        }
      }
    }
    for (const [path, target] of this.symlinks) {
      const problem = this.resolve(path, target);
      if (problem) return { index: this.indexOf.get(path)!, name: path, problem };
    }
    return undefined;
  }

  /** Follows `target` from the link's directory through the archive's own symlinks; says why it escapes, if it does. */
  private resolve(linkPath: string, target: string): string | undefined {
    const at = linkPath.split('/').slice(0, -1);
    const todo = target.split('/');
    let hops = 0;
    while (todo.length > 0) {
      const part = todo.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (at.length === 0) return `is a symlink to "${target}", which escapes the target directory`;
        at.pop();
        continue;
      }
      at.push(part);
      const next = this.symlinks.get(at.join('/'));
      if (next === undefined) continue;
      if (++hops > MAX_SYMLINK_HOPS) return `is a symlink to "${target}", which loops`;
      at.pop();
      if (next.startsWith('/')) return `is a symlink to "${target}", which escapes the target directory`;
      todo.unshift(...next.split('/'));
    }
    return undefined;
  }
}

/** The tar bytes of `source`: gunzipped when it starts with the gzip magic, and counted against the limit. */
async function* tarBytes(source: AsyncIterable<Buffer>, limits: ArchiveLimits, summary: ArchiveSummary): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  while (head.length < 2) {
    const r = await it.next();
    if (r.done) break;
    head = Buffer.concat([head, r.value]);
  }
  async function* raw() {
    if (head.length > 0) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  summary.gzip = head[0] === 0x1f && head[1] === 0x8b;
  let stream: AsyncIterable<Buffer> = raw();
  let gunzipping: Promise<void> | undefined;
  if (summary.gzip) {
    const gunzip = createGunzip();
    gunzipping = pipeline(Readable.from(raw()), gunzip).catch((err: Error) => {
      throw new ArchiveRefused('malformed', `not a valid gzip stream: ${err.message}`);
    });
    gunzipping.catch(() => {}); // awaited below; a refusal elsewhere must not leave it unhandled
    stream = gunzip;
  }
  try {
    for await (const chunk of stream) {
      summary.unpackedBytes += chunk.length;
      if (summary.unpackedBytes > limits.maxUnpackedBytes) {
        throw new ArchiveRefused('limit', `the archive unpacks to more than ${limits.maxUnpackedBytes} bytes`);
      }
      yield chunk;
    }
    await gunzipping;
  } finally {
    // Stop reading the source when we stop early (a refusal): the caller must not wait on bytes nobody reads.
    await it.return?.();
  }
}

/**
 * Reads a tar stream entry by entry: `onEntry` gets each header with its content, which it must consume before the
 * next entry comes. The first error (the stream's, the parser's or `onEntry`'s) stops the reading and rejects.
 */
export function walkTar(bytes: NodeJS.ReadableStream & { destroy(): void }, onEntry: (header: Header, content: AsyncIterable<Buffer>) => Promise<void>): Promise<void> {
  const extract = tarExtract();
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      bytes.destroy();
      extract.destroy();
      reject(err);
    };
    extract.on('entry', (header, stream, next) => {
      onEntry(header, stream as unknown as AsyncIterable<Buffer>).then(() => next(), fail);
    });
    extract.on('finish', () => resolve());
    extract.on('error', fail);
    bytes.on('error', fail);
    bytes.pipe(extract as unknown as NodeJS.WritableStream);
  });
}

/**
 * Reads a tar or tar.gz stream to its end, validating every header; `onEntry` (if given) gets each accepted entry
 * with its content and must consume it. Rejects with ArchiveRefused for anything it does not accept.
 */
export async function inspectArchive(
  source: AsyncIterable<Buffer>,
  limits: ArchiveLimits,
  onEntry?: (entry: ArchiveEntry, content: AsyncIterable<Buffer>) => Promise<void>,
): Promise<ArchiveSummary> {
  const summary: ArchiveSummary = { entries: 0, unpackedBytes: 0, gzip: false };
  const tree = new TreeCheck();
  const bytes = Readable.from(tarBytes(source, limits, summary), { objectMode: false });
  let index = -1;
  let content = 0;

  const refuse = (header: Header, problem: string) => new ArchiveRefused('entry', `entry "${header.name}" ${problem}`, { index, name: header.name });

  const onHeader = async (header: Header, stream: AsyncIterable<Buffer>): Promise<void> => {
    index++;
    // tar-stream names the types it knows and gives null for the rest (GNU sparse 'S', volume label 'V',
    // multi-volume 'M', dump directory 'D', vendor types): none of those may pass as a plain file.
    const type = header.type;
    if (type !== 'file' && type !== 'directory' && type !== 'symlink' && type !== 'link') {
      const kind = type ? `a ${type}` : 'an entry of a non-standard type (GNU sparse, volume label, multi-volume, …)';
      throw refuse(header, `is ${kind}; an archive may hold only files, directories, symlinks and hardlinks`);
    }
    const named = normalizeEntryName(header.name);
    if ('problem' in named) throw refuse(header, named.problem);
    if (named.path === '' && type !== 'directory') throw refuse(header, 'has no name');
    if (++summary.entries > limits.maxEntries) throw new ArchiveRefused('limit', `the archive has more than ${limits.maxEntries} entries`);
    const size = type === 'file' ? (header.size ?? 0) : 0;
    content += size;
    if (content > limits.maxUnpackedBytes) throw new ArchiveRefused('limit', `the archive unpacks to more than ${limits.maxUnpackedBytes} bytes`);
    let linkname: string | undefined;
    if (type === 'symlink') linkname = header.linkname ?? '';
    if (type === 'link') {
      const target = normalizeEntryName(header.linkname ?? '');
      if ('problem' in target || target.path === '') throw refuse(header, `is a hardlink whose target "${header.linkname ?? ''}" ${'problem' in target ? target.problem : 'is the root'}`);
      linkname = target.path;
    }
    const entry: ArchiveEntry = { path: named.path, type, mode: header.mode ?? 0o644, size, mtime: header.mtime, ...(linkname !== undefined ? { linkname } : {}) };
    if (named.path !== '') {
      const problem = tree.add(entry, index);
      if (problem) throw refuse(header, problem);
    }
    if (onEntry && named.path !== '') await onEntry(entry, stream);
    else for await (const _ of stream) void _; // read past the content
  };

  try {
    await walkTar(bytes, onHeader);
  } catch (err) {
    if (err instanceof ArchiveRefused) throw err;
    throw new ArchiveRefused('malformed', `not a valid tar archive: ${(err as Error).message}`);
  }
  const crossed = tree.finish();
  if (crossed) throw new ArchiveRefused('entry', `entry "${crossed.name}" ${crossed.problem}`, { index: crossed.index, name: crossed.name });
  return summary;
}

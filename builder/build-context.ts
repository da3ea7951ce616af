// The build context as a tar stream: the Dockerfile, install scripts, and the upload streamed from S3 (never
// buffered) — one file under `binary`, or an archive's entries, checked again and re-packed under `archive/`.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pack as tarPack, type Pack } from 'tar-stream';
import { inspectArchive, type ArchiveEntry } from '../core/tar-archive.ts';
import { ARCHIVE_CONTEXT_PATH, BINARY_CONTEXT_PATH, type RenderedBuild } from './dockerfile-render.ts';

export interface ContextUpload {
  stream: Readable;
  size: number;
  /** When given, the bytes must hash to it (S3 serves what was uploaded, or the build stops). */
  sha256?: string;
  /** `tar`: re-pack the archive's entries under `archive/`; the plan recorded how many and how large. */
  kind?: 'tar';
  entries?: number;
  unpackedSize?: number;
  /** Told each archive entry's path as it is re-packed (what the final image check needs to know was written). */
  onEntry?: (path: string) => void;
}

export type EntryHeader = Parameters<Pack['entry']>[0];

/** The stream's bytes, failing at the end unless they are exactly the ones uploaded. */
export async function* verified(upload: ContextUpload): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of upload.stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    hash.update(chunk);
    yield chunk;
  }
  const sha256 = hash.digest('hex');
  if (size !== upload.size || (upload.sha256 !== undefined && sha256 !== upload.sha256)) {
    throw new Error(`the upload read back from S3 is not the one uploaded (${size} bytes, sha256 ${sha256})`);
  }
}

/** Writes one entry into a pack, its content (if any) with backpressure; resolves once the pack took it whole. */
export function writeEntry(pack: Pack, header: EntryHeader, content?: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    if (!content) return;
    void (async () => {
      try {
        for await (const chunk of content) if (!entry.write(chunk)) await new Promise<void>((r) => entry.once('drain', () => r()));
        entry.end(undefined);
      } catch (err) {
        entry.destroy(err as Error);
        reject(err);
      }
    })();
  });
}

/**
 * An archive entry as it is re-packed: under `prefix` (the context's `archive/`, or the target directory in a composed
 * image's binary layer), owned by root, without setuid/setgid/sticky bits. Hardlinks point at the re-packed path of
 * their file; symlinks keep their (relative, checked) target.
 */
function repackedHeader(e: ArchiveEntry, mtime: Date, prefix: string): EntryHeader {
  const name = `${prefix}/${e.path}`;
  const base = { name, mode: e.mode & 0o777, mtime: e.mtime ?? mtime, uid: 0, gid: 0 };
  switch (e.type) {
    case 'file':
      return { ...base, type: 'file', size: e.size };
    case 'directory':
      return { ...base, type: 'directory' };
    case 'symlink':
      return { ...base, type: 'symlink', linkname: e.linkname!, mode: 0o777 };
    case 'link':
      return { ...base, type: 'link', linkname: `${prefix}/${e.linkname!}` };
  }
}

/**
 * How a composed image's binary layer lays an archive out (see core/composition/binary-placement.ts): the target
 * directory's own entry (the image's metadata when it holds it), and, per entry, the headers to write — the directories
 * above it first, then the entry itself, renamed to where it lands. Content goes with the last header.
 */
export interface ArchiveLayout {
  /** null: the target is the image's root, whose metadata a layer must not touch. */
  root: EntryHeader | null;
  headers(entry: ArchiveEntry, header: EntryHeader): EntryHeader[];
  /** Sees each file's content on its way into the pack (e.g. to keep its first bytes). */
  tap?(path: string, mode: number, content: AsyncIterable<Buffer>): AsyncIterable<Buffer>;
}

/**
 * Re-packs an archive upload's entries (checked again on the way) under the directory `prefix`, which it writes first
 * — or as `layout` lays them out.
 */
export async function packArchive(pack: Pack, upload: ContextUpload, mtime: Date, prefix = ARCHIVE_CONTEXT_PATH, layout?: ArchiveLayout): Promise<void> {
  const root = layout ? layout.root : { name: `${prefix}/`, type: 'directory' as const, mode: 0o755, mtime };
  if (root) await writeEntry(pack, root);
  // The engine chmods a hardlink with its own header's mode, and so the file it shares an inode with: a hardlink
  // must carry its file's mode, whatever the archive said.
  const fileModes = new Map<string, number>();
  // The api checked this archive entry by entry when it was uploaded; check again while re-packing (the rules live
  // in one place), within what the upload was measured to hold.
  await inspectArchive(
    verified(upload),
    { maxEntries: upload.entries ?? 0, maxUnpackedBytes: upload.unpackedSize ?? 0 },
    async (entry, content) => {
      if (entry.type === 'file') fileModes.set(entry.path, entry.mode);
      upload.onEntry?.(entry.path);
      const e = entry.type === 'link' ? { ...entry, mode: fileModes.get(entry.linkname!) ?? 0o644 } : entry;
      const headers = layout ? layout.headers(e, repackedHeader(e, mtime, prefix)) : [repackedHeader(e, mtime, prefix)];
      for (const h of headers.slice(0, -1)) await writeEntry(pack, h);
      const last = headers.at(-1)!;
      const body = entry.type === 'file' ? (layout?.tap ? layout.tap(last.name, last.mode ?? 0, content) : content) : undefined;
      return writeEntry(pack, last, body);
    },
  );
}

/** `upload` absent: a template build, which has nothing of a user's. */
export function buildContext(rendered: RenderedBuild, upload?: ContextUpload): Readable {
  const pack = tarPack();
  const mtime = new Date(0); // fixed, so identical inputs make identical contexts (and cache keys)
  void (async () => {
    try {
      pack.entry({ name: 'Dockerfile', mode: 0o644, mtime }, rendered.dockerfile);
      if (upload?.kind === 'tar') await packArchive(pack, upload, mtime);
      // The binary keeps mode 0755 from the tar header: the classic builder's COPY preserves it, so it can be run.
      else if (upload) await writeEntry(pack, { name: BINARY_CONTEXT_PATH, size: upload.size, mode: 0o755, mtime }, verified(upload));
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  // tar-stream packs are streamx streams; they pipe like Node streams, which is all docker-modem asks of them.
  return pack as unknown as Readable;
}

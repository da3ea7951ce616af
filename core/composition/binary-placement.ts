// Where a composed image's binary layer writes the user's upload: `binaryPath` resolved over the image beneath (root,
// component layers, merge layer) the way the installed route's `COPY` resolves it, so both routes make the same image
// — and a layer never hides a directory or a symlink the image holds (a file `bin` over Debian's `/bin → usr/bin`
// makes an image that cannot start). Pure: it reads a filesystem view, never an engine.
//
// What COPY does, seen on Docker 20.10 (classic builder, overlay2) with `COPY ["binary", X]` / `COPY ["archive", X]`
// over kiln-root:debian-bookworm, December 2026:
//   /bin (→ usr/bin)             file lands at /usr/bin/binary; /bin stays a link
//   /usr/local/bin (a directory) file lands at /usr/local/bin/binary
//   /flink (→ /etc/f, a file)    /etc/f is overwritten (mode 0755); /flink stays a link
//   /dangle (→ /nonexistent/y)   /nonexistent (0755 root) is made and /nonexistent/y written
//   /rel (→ ../opt/tgt, a dir)   file lands at /opt/tgt/binary
//   /opt/new/deep/app            parents made 0755 root, file at the path
//   archive → /data (0700 5:6)   entries land inside; /data keeps 0700 and its owner
//   archive → /d2link (→ data2)  entries land in /data2 (0711 kept); the link stays
//   archive → /sbin (→ usr/sbin) entries land in /usr/sbin; the link stays
//   archive → a file, or a link to a file: fails ("mkdir …/etc/f: not a directory")
//   a symlink loop: fails ("too many links"); a path under a file: fails ("not a directory")
import path from 'node:path/posix';
import type { FsView, IndexEntry } from './layer-index.ts';

/**
 * The name a single-file upload gets inside a directory: the installed route's build context holds it under this name,
 * and COPY onto an existing directory keeps the source's name.
 */
export const BINARY_NAME = 'binary';

/** Docker's limit on links followed while resolving one path (moby/sys symlink: maxSymlinkLimit). */
const MAX_LINKS = 255;

/** Why the binary cannot be placed; `path` is the image path at fault (with a leading slash). */
export class PlacementError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'PlacementError';
  }
}

export type FsLookup = Pick<FsView, 'get' | 'hasDir'>;

const abs = (p: string) => `/${p}`;
const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);

/**
 * `p` with every symlink on the way followed, the last component included, inside the image's root (an absolute
 * target restarts at /, `..` stops at /) — Docker's FollowSymlinkInScope, which COPY applies to its destination.
 * A component that does not exist is kept as it is. Returns the path without a leading slash ('' is /).
 */
export function resolveInImage(view: FsLookup, p: string): string {
  const resolved: string[] = [];
  const todo = p.split('/');
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const e = view.get([...resolved, part].join('/'));
    if (e?.type === 'symlink') {
      if (++links > MAX_LINKS) throw new PlacementError(abs(p.replace(/^\/+/, '')), `"${p}" cannot be resolved in the image: too many symlinks (a loop?)`);
      const target = e.linkname ?? '';
      if (target.startsWith('/')) resolved.length = 0;
      todo.unshift(...target.split('/'));
      continue;
    }
    resolved.push(part);
  }
  return resolved.join('/');
}

/** Refuses a resolved path one of whose parents is something other than a directory in the image. */
function checkParents(view: FsLookup, resolved: string, asked: string): void {
  const parts = resolved.split('/').filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const dir = parts.slice(0, i).join('/');
    const e = view.get(dir);
    if (e && e.type !== 'dir' && !view.hasDir(dir)) {
      throw new PlacementError(abs(dir), `binaryPath "${asked}" goes through "${abs(dir)}", which is a ${describe(e)} in the image, not a directory`);
    }
  }
}

function describe(e: IndexEntry): string {
  return e.type === 'symlink' ? 'symlink' : e.type === 'dir' ? 'directory' : e.type === 'other' ? 'special file' : 'file';
}

export type Placement =
  /** A single file: the path it is written at. */
  | { kind: 'file'; path: string }
  /** An archive: the directory its entries go into; `existing` when the image holds it (then it keeps its metadata). */
  | { kind: 'dir'; path: string; existing: boolean };

/**
 * Where an upload lands for `binaryPath` (absolute, already checked by the spec grammar). A file onto an existing
 * directory goes inside it under the name the installed route's build context gives it (`binary`); onto a file it
 * replaces the file; an archive needs a directory (an existing one, or one that is made).
 */
export function placeBinary(view: FsLookup, binaryPath: string, kind: 'file' | 'tar'): Placement {
  const resolved = resolveInImage(view, binaryPath);
  checkParents(view, resolved, binaryPath);
  const isDir = view.hasDir(resolved);
  const entry = view.get(resolved);
  if (kind === 'tar') {
    if (!isDir && entry) {
      throw new PlacementError(abs(resolved), `binaryPath "${binaryPath}" is a ${describe(entry)} in the image (${abs(resolved)}); an archive is unpacked into a directory`);
    }
    return { kind: 'dir', path: resolved, existing: isDir };
  }
  if (!isDir) return { kind: 'file', path: resolved };
  const inside = join(resolved, BINARY_NAME);
  const there = view.get(inside);
  if (there && (there.type === 'dir' || there.type === 'symlink' || view.hasDir(inside))) {
    throw new PlacementError(abs(inside), `binaryPath "${binaryPath}" is a directory whose "${BINARY_NAME}" is a ${describe(there)} in the image; kiln does not replace it`);
  }
  return { kind: 'file', path: inside };
}

export interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
}

/** The metadata a directory has in the image (an implied one, written by no entry, is 0755 root). */
export function dirMeta(view: FsLookup, dir: string): DirMeta {
  const e = view.get(dir);
  return e?.type === 'dir' ? { mode: e.mode & 0o7777, uid: e.uid, gid: e.gid } : { mode: 0o755, uid: 0, gid: 0 };
}

/**
 * Places an archive's entries, one by one in archive order, under the target directory. Each entry's parent is
 * resolved through the image's symlinks (as the kernel resolves it when COPY writes the entry), so an entry `bin/x`
 * unpacked at / lands at usr/bin/x and never hides the link. A directory entry over an image directory keeps the
 * image's directory (mode and owner); an entry never replaces a directory or a symlink the image holds.
 */
export class ArchivePlacer {
  /** archive path → where it landed (hardlinks name their file by where it landed). */
  private readonly placed = new Map<string, string>();

  constructor(
    private readonly view: FsLookup,
    private readonly target: string,
  ) {}

  /** Where the entry goes; `keep`: a directory the image holds, written with its own metadata. */
  place(entry: { path: string; type: 'file' | 'directory' | 'symlink' | 'link' }): { path: string; keep?: DirMeta } {
    const parent = path.dirname(entry.path) === '.' ? '' : path.dirname(entry.path);
    const dir = parent === '' ? this.target : (this.placed.get(parent) ?? resolveInImage(this.view, join(this.target, parent)));
    let at = join(dir, path.basename(entry.path));
    const there = this.view.get(at);
    const isDir = this.view.hasDir(at);
    if (entry.type === 'directory') {
      if (there?.type === 'symlink') {
        // Follow a link to a directory (Debian's lib → usr/lib): the archive's content goes where the link points.
        const followed = resolveInImage(this.view, at);
        if (!this.view.hasDir(followed)) throw this.refuse(entry.path, at, there);
        at = followed;
      }
      this.placed.set(entry.path, at);
      return this.view.hasDir(at) ? { path: at, keep: dirMeta(this.view, at) } : { path: at };
    }
    if (isDir || there?.type === 'symlink') throw this.refuse(entry.path, at, there);
    this.placed.set(entry.path, at);
    return { path: at };
  }

  /** Where an earlier file of the archive landed (for a hardlink to it). */
  landed(archivePath: string): string {
    return this.placed.get(archivePath) ?? join(this.target, archivePath);
  }

  private refuse(name: string, at: string, there: IndexEntry | undefined): PlacementError {
    const what = there ? describe(there) : 'directory';
    return new PlacementError(abs(at), `archive entry "${name}" would replace the ${what} ${abs(at)} the image holds`);
  }
}

// What a layer holds, as kiln records it when it normalizes the layer: every entry with its content hash, the paths
// it deletes from what lies below it (whiteouts) and the directories whose lower content it hides (kept opaque
// markers). A stack of such indexes is a filesystem view: what composition checks for conflicts and where it resolves
// the binary's path. Pure.
import path from 'node:path/posix';

export type EntryType = 'file' | 'dir' | 'symlink' | 'link' | 'other';

export interface IndexEntry {
  /** Relative to /, no leading or trailing slash (`usr/bin/gcc`). */
  path: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Hex sha256 of a file's bytes. */
  sha256?: string;
  /** Target of a symlink, or (hardlink) the path of the file it shares. */
  linkname?: string;
}

export interface LayerIndex {
  entries: IndexEntry[];
  /** Paths this layer deletes from below (`.wh.<name>`). */
  whiteouts: string[];
  /** Directories that existed below and whose lower content this layer hides (kept `.wh..wh..opq`). */
  opaque: string[];
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/** `./usr/bin/` → `usr/bin`; refuses nothing (the tar reader already refused escaping names). */
export function cleanPath(name: string): string {
  return path.normalize(`/${name}`).replace(/^\/+/, '').replace(/\/+$/, '');
}

export const isUnder = (p: string, dir: string) => dir === '' || p === dir || p.startsWith(`${dir}/`);

/** What a tar entry name means in an image layer. */
export function classifyName(name: string): { kind: 'opaque'; dir: string } | { kind: 'whiteout'; target: string } | { kind: 'entry'; path: string } {
  const p = cleanPath(name);
  const base = path.basename(p);
  const dir = path.dirname(p) === '.' ? '' : path.dirname(p);
  if (base === OPAQUE_MARKER) return { kind: 'opaque', dir };
  if (base.startsWith(WHITEOUT_PREFIX)) return { kind: 'whiteout', target: dir ? `${dir}/${base.slice(WHITEOUT_PREFIX.length)}` : base.slice(WHITEOUT_PREFIX.length) };
  return { kind: 'entry', path: p };
}

/** A filesystem as a stack of layers shows it: every path that exists, with the entry of the layer that wrote it last. */
export class FsView {
  private readonly entries = new Map<string, IndexEntry>();
  /** Every directory, explicit or implied by an entry below it; rebuilt after a change. */
  private dirs: Set<string> | undefined;

  /** Applies one layer on top: opaque dirs and whiteouts remove what lies below, then its entries land. */
  apply(layer: LayerIndex): this {
    this.dirs = undefined;
    const removals = [...layer.opaque.map((dir) => ({ dir, keepSelf: true })), ...layer.whiteouts.map((dir) => ({ dir, keepSelf: false }))];
    if (removals.length > 0) {
      for (const p of [...this.entries.keys()]) {
        if (removals.some((r) => (r.keepSelf ? p.startsWith(`${r.dir}/`) : isUnder(p, r.dir)))) this.entries.delete(p);
      }
    }
    for (const e of layer.entries) {
      // A directory replaced by something else takes its content with it (rare: a pass over everything).
      if (e.type !== 'dir' && this.entries.get(e.path)?.type === 'dir') {
        for (const p of [...this.entries.keys()]) if (p.startsWith(`${e.path}/`)) this.entries.delete(p);
      }
      this.entries.set(e.path, e);
    }
    return this;
  }

  get(p: string): IndexEntry | undefined {
    return this.entries.get(p);
  }

  paths(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** Whether `dir` is a directory here; parents of any entry count (a tar may leave them implicit). */
  hasDir(dir: string): boolean {
    if (dir === '') return true;
    if (!this.dirs) {
      this.dirs = new Set();
      for (const [p, e] of this.entries) {
        if (e.type === 'dir') this.dirs.add(p);
        for (let d = path.dirname(p); d !== '.'; d = path.dirname(d)) this.dirs.add(d);
      }
    }
    const e = this.entries.get(dir);
    return e ? e.type === 'dir' : this.dirs.has(dir);
  }
}

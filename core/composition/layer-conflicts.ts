// Whether independently built layers can be stacked: two layers that write the same path with different content (or
// one that deletes what another writes) outside the known shared state make a combination not composable — its
// builds install instead. Same bytes at the same path (a file both install from the same package) are fine. Pure.
import { isUnder, type IndexEntry, type LayerIndex } from './layer-index.ts';
import { sharedState } from './shared-state.ts';

export interface Conflict {
  path: string;
  /** The two component keys (layers) at odds. */
  layers: [string, string];
  reason: string;
}

/** Content, mode and owner; a directory's mtime (every install touches it) and a file's mtime do not count. */
function differs(a: IndexEntry, b: IndexEntry): string | undefined {
  if (a.type !== b.type) return `a ${a.type} in one, a ${b.type} in the other`;
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return `mode or owner differ (${a.mode.toString(8)} ${a.uid}:${a.gid} vs ${b.mode.toString(8)} ${b.uid}:${b.gid})`;
  if (a.type === 'file' && a.sha256 !== b.sha256) return 'different content';
  if ((a.type === 'symlink' || a.type === 'link') && a.linkname !== b.linkname) return `links to ${a.linkname} vs ${b.linkname}`;
  return undefined;
}

export function findConflicts(layers: readonly { layer: string; index: LayerIndex }[], limit = 50): { conflicts: Conflict[]; total: number } {
  const conflicts: Conflict[] = [];
  let total = 0;
  const add = (c: Conflict) => {
    total++;
    if (conflicts.length < limit) conflicts.push(c);
  };
  const writers = new Map<string, { layer: string; entry: IndexEntry }>();
  for (const { layer, index } of layers) {
    for (const entry of index.entries) {
      if (sharedState(entry.path)) continue;
      const prev = writers.get(entry.path);
      if (!prev) {
        writers.set(entry.path, { layer, entry });
        continue;
      }
      if (prev.layer === layer) continue;
      const why = differs(prev.entry, entry);
      if (why) add({ path: `/${entry.path}`, layers: [prev.layer, layer], reason: why });
    }
  }
  // Deletions are order-dependent: a path one layer removes and another writes has no single right answer.
  const paths = [...writers.keys()];
  for (const { layer, index } of layers) {
    const removed = [...index.whiteouts.map((p) => ({ p, self: true })), ...index.opaque.map((p) => ({ p, self: false }))];
    for (const { p, self } of removed) {
      if (sharedState(p)) continue;
      for (const w of paths) {
        const hit = self ? isUnder(w, p) : w.startsWith(`${p}/`);
        const writer = hit ? writers.get(w)! : undefined;
        if (writer && writer.layer !== layer && !sharedState(w)) {
          add({ path: `/${w}`, layers: [layer, writer.layer], reason: self ? `deleted by ${layer}, written by ${writer.layer}` : `${layer} hides /${p}, ${writer.layer} writes into it` });
        }
      }
    }
  }
  return { conflicts, total };
}

// The merge layer of a combination: the shared state every component layer rewrote whole (dpkg status, diversions,
// alternatives, debconf, accounts, triggers), merged three ways against the root's copy, plus what a tool made from
// the composed files (ld.so.cache, given by the verification). It goes on top of the component layers. Pure.
import { sharedState, type SharedState } from './shared-state.ts';
import { bestChoice, mergeState, parseAlternatives } from './state-merge.ts';

/** A shared file as a layer (or the root) holds it; null: the layer deleted it. */
export type StateFile = { content: Buffer; mode: number; uid: number; gid: number } | null;

export type MergeEntry =
  | { type: 'file'; path: string; content: Buffer; mode: number; uid: number; gid: number }
  | { type: 'symlink'; path: string; linkname: string }
  | { type: 'whiteout'; path: string };

export interface MergePlan {
  entries: MergeEntry[];
  /** `path: what two layers disagree on` — not composable. */
  conflicts: string[];
}

export interface LayerState {
  layer: string;
  files: ReadonlyMap<string, StateFile>;
}

/**
 * `root`: the root's copies of the shared files (every layer was built on the root, or on the root with the layers of
 * what it requires, whose changes then show in its own copy too and agree with theirs). `regenerated`: files a tool
 * made on the composed image (path → content), written as they are.
 */
export function planMergeLayer(root: ReadonlyMap<string, StateFile>, layers: readonly LayerState[], regenerated: ReadonlyMap<string, StateFile> = new Map()): MergePlan {
  const touched = new Map<string, SharedState>();
  for (const l of layers) {
    for (const path of l.files.keys()) {
      const kind = sharedState(path);
      if (kind && kind.merge !== 'ignored' && kind.merge !== 'regenerated' && kind.merge !== 'derived') touched.set(path, kind);
    }
  }
  const entries: MergeEntry[] = [];
  const conflicts: string[] = [];
  for (const path of [...touched.keys()].sort()) {
    const kind = touched.get(path)!;
    const base = root.get(path);
    const versions = layers.map((l) => ({ layer: l.layer, file: l.files.has(path) ? l.files.get(path)! : base }));
    const result = mergeState(
      kind,
      base?.content.toString('utf8'),
      versions.map((v) => ({ layer: v.layer, text: v.file?.content.toString('utf8') })),
    );
    if (result.conflicts.length > 0) {
      conflicts.push(...result.conflicts.map((c) => `/${path}: ${c}`));
      continue;
    }
    // Mode and owner from the last layer that wrote it (shadow stays 0640 root:shadow), else the root's.
    const meta = [...versions].reverse().find((v) => v.file)?.file ?? base ?? { mode: 0o644, uid: 0, gid: 0 };
    const changers = versions.filter((v) => v.file?.content.toString('utf8') !== base?.content.toString('utf8'));
    if (kind.merge === 'alternatives' && result.text === '') {
      entries.push({ type: 'whiteout', path });
      continue;
    }
    entries.push({ type: 'file', path, content: Buffer.from(result.text, 'utf8'), mode: meta.mode, uid: meta.uid, gid: meta.gid });
    // A group two layers changed: its /etc/alternatives links follow the merged choice (one layer's are right as they are).
    if (kind.merge === 'alternatives' && changers.length > 1) entries.push(...alternativesLinks(path, result.text));
  }
  for (const [path, file] of [...regenerated].sort(([a], [b]) => a.localeCompare(b))) {
    entries.push(file ? { type: 'file', path, ...file } : { type: 'whiteout', path });
  }
  return { entries, conflicts };
}

function alternativesLinks(statePath: string, text: string): MergeEntry[] {
  const name = statePath.slice(statePath.lastIndexOf('/') + 1);
  const group = parseAlternatives(text);
  const best = bestChoice(group);
  if (!best) return [{ type: 'whiteout', path: `etc/alternatives/${name}` }];
  return [
    { type: 'symlink', path: `etc/alternatives/${name}`, linkname: best.path },
    ...group.slaves.map((s, i): MergeEntry =>
      best.slaves[i] ? { type: 'symlink', path: `etc/alternatives/${s.name}`, linkname: best.slaves[i]! } : { type: 'whiteout', path: `etc/alternatives/${s.name}` },
    ),
  ];
}

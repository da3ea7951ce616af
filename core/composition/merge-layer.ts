// The merge layer of a combination: the shared state every component layer rewrote whole (dpkg status, diversions,
// alternatives, debconf, accounts, triggers), merged three ways against the root's copy, plus what a tool made from
// the composed files (ld.so.cache, given by the verification). It goes on top of the component layers. Pure.
import { sharedState, type SharedState } from './shared-state.ts';
import { bestChoice, mergeAptMarks, mergeState, parseAlternatives } from './state-merge.ts';

/**
 * A shared file as a layer (or the root) holds it; null: the layer deleted it. `mtime`: seconds since the epoch, as
 * the layer's tar dates it (absent in records made before kiln kept it).
 */
export type StateFile = { content: Buffer; mode: number; uid: number; gid: number; mtime?: number } | null;

export type MergeEntry =
  | { type: 'file'; path: string; content: Buffer; mode: number; uid: number; gid: number; mtime: number }
  | { type: 'symlink'; path: string; linkname: string }
  | { type: 'whiteout'; path: string };

export interface MergePlan {
  entries: MergeEntry[];
  /** `path: what two layers disagree on` — not composable. */
  conflicts: string[];
  /**
   * When the merge layer says its files were written (seconds since the epoch): the newest time the component layers
   * date their shared files with. Not the time of the merge: the same layers must make the same merge layer, byte for
   * byte, whichever builder verifies the combination and whenever (its digest is what composed builds reuse); and not
   * 1970 either, which is what `ls -l` and backup tools would then show for dpkg's status of an image installed today.
   * Each merged file takes the newest time among the layers that changed it, as if the last of them had written it.
   */
  mtime: number;
}

const STATUS = 'var/lib/dpkg/status';

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
  const layerTime = Math.max(0, ...layers.flatMap((l) => [...l.files.values()].map((f) => f?.mtime ?? 0)));
  const text = (f: StateFile | undefined) => f?.content.toString('utf8');
  for (const path of [...touched.keys()].sort()) {
    const kind = touched.get(path)!;
    const base = root.get(path);
    const versions = layers.map((l) => ({ layer: l.layer, file: l.files.has(path) ? l.files.get(path)! : base }));
    const result =
      kind.merge === 'apt-marks'
        ? mergeAptMarks(
            { marks: text(base), status: text(root.get(STATUS)) },
            layers.map((l, i) => ({ layer: l.layer, marks: text(versions[i]!.file) ?? '', status: text(l.files.has(STATUS) ? l.files.get(STATUS) : root.get(STATUS)) })),
          )
        : mergeState(
            kind,
            text(base),
            versions.map((v) => ({ layer: v.layer, text: text(v.file) })),
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
    const mtime = Math.max(0, ...changers.map((v) => v.file?.mtime ?? 0)) || layerTime;
    entries.push({ type: 'file', path, content: Buffer.from(result.text, 'utf8'), mode: meta.mode, uid: meta.uid, gid: meta.gid, mtime });
    // A group two layers changed: its /etc/alternatives links follow the merged choice (one layer's are right as they are).
    if (kind.merge === 'alternatives' && changers.length > 1) entries.push(...alternativesLinks(path, result.text));
  }
  // Made on the composed image at verification (ld.so.cache): dated with the layers, not with the verification run.
  for (const [path, file] of [...regenerated].sort(([a], [b]) => a.localeCompare(b))) {
    entries.push(file ? { type: 'file', path, content: file.content, mode: file.mode, uid: file.uid, gid: file.gid, mtime: layerTime } : { type: 'whiteout', path });
  }
  return { entries, conflicts, mtime: layerTime };
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

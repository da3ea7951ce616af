// Composition's share of an analysis: which component layers to build ahead of demand (every catalog version a root
// supports, on each base its requires allow, most-used first, new recipe versions at once, within a byte budget), which
// hot combinations to verify before anyone builds them, and which layers an old recipe left behind. Pure.
import { satisfies, type Catalog, type ComponentVersion } from '../core/catalog/catalog.ts';
import { resolveComponents } from '../core/catalog/component-resolver.ts';
import { recencyWeight } from '../core/templates/savings.ts';
import type { DemandHours } from '../core/templates/demand-hours.ts';

export interface KnownLayer {
  id: string;
  root: string;
  componentKey: string;
  recipeHash: string;
  /** Component keys of the layers it stands on. */
  baseKeys: string[];
  status: string;
  unpackedBytes: number | null;
}

export interface LayerPrebuildInput {
  catalog: Catalog;
  /** Past builds (or `count` builds of one combination at about `t`). */
  /** The build history in columns (core/templates/demand-hours.ts), as the template analysis reads it. */
  history: DemandHours;
  now: number;
  halfLifeSeconds: number;
  layers: readonly KnownLayer[];
  /** Canonical `a@1+b@2` keys (per root) of combinations that already have a verdict on today's recipes. */
  judged: ReadonlySet<string>;
  /** Total bytes (uncompressed) the layers may take; absent: no limit. */
  budgetBytes?: number;
  /** Hot combinations verified ahead at most per analysis. */
  preverifyMax: number;
}

export interface LayerJobDecision {
  root: string;
  components: string[];
  reason: string;
}

export interface LayerPrebuildDecisions {
  build: LayerJobDecision[];
  verify: LayerJobDecision[];
  /** Ready layers of a recipe the catalog no longer has. */
  stale: { id: string; key: string; reason: string }[];
  skipped: { key: string; reason: string }[];
}

/** Assumed size of a layer nothing is known about yet (an older recipe's size is used when there is one). */
const DEFAULT_LAYER_BYTES = 512 * 1024 ** 2;

const comboKey = (root: string, keys: readonly string[]) => `${root}|${keys.join('+')}`;

/** Each version's chains: itself on every choice of the versions its requires accept (cuda on gcc@11, on gcc@12). */
function chains(catalog: Catalog, v: ComponentVersion, root: string): string[][] {
  let out: string[][] = [[]];
  for (const req of v.requires) {
    const options = [...(catalog.components.get(req.component)?.versions.values() ?? [])].filter((x) => x.roots.includes(root) && satisfies(x.version, req.versions));
    out = out.flatMap((partial) => options.map((o) => [...partial, o.key]));
  }
  return out
    .map((keys) => resolveComponents(catalog, root, [...keys, v.key]))
    .filter((r) => r.problems.length === 0)
    .map((r) => r.components.map((c) => c.key));
}

export function planLayerPrebuilds(input: LayerPrebuildInput): LayerPrebuildDecisions {
  const { catalog } = input;
  const d: LayerPrebuildDecisions = { build: [], verify: [], stale: [], skipped: [] };
  const current = new Map<string, ComponentVersion>();
  for (const c of catalog.components.values()) for (const v of c.versions.values()) current.set(v.key, v);

  for (const l of input.layers) {
    const v = current.get(l.componentKey);
    if (l.status === 'ready' && v?.recipeHash !== l.recipeHash) d.stale.push({ id: l.id, key: l.componentKey, reason: v ? `recipe of ${l.componentKey} changed` : `${l.componentKey} left the catalog` });
  }

  const usage = new Map<string, number>();
  const combos = new Map<string, { root: string; keys: string[]; weight: number }>();
  // Rows folded per combination first: a big window has hundreds of thousands of rows but tens of thousands of
  // combinations, and only those need resolving.
  const h = input.history;
  const weights = new Float64Array(h.combos.length);
  for (let i = 0; i < h.combo.length; i++) weights[h.combo[i]!]! += h.count[i]! * recencyWeight(h.t[i]!, { now: input.now, halfLifeSeconds: input.halfLifeSeconds });
  for (const [ci, b] of h.combos.entries()) {
    const w = weights[ci]!;
    if (w === 0) continue;
    for (const k of b.components) usage.set(`${b.root}|${k}`, (usage.get(`${b.root}|${k}`) ?? 0) + w);
    const resolved = resolveComponents(catalog, b.root, [...b.components]);
    if (resolved.problems.length > 0) continue;
    const keys = resolved.components.map((c) => c.key);
    const k = comboKey(b.root, keys);
    combos.set(k, { root: b.root, keys, weight: (combos.get(k)?.weight ?? 0) + w });
  }

  const haveReady = (root: string, key: string, baseKeys: string[]) =>
    input.layers.some((l) => l.root === root && l.componentKey === key && l.recipeHash === current.get(key)?.recipeHash && l.baseKeys.join('+') === baseKeys.join('+') && (l.status === 'ready' || l.status === 'building'));
  const olderSize = (key: string) => input.layers.find((l) => l.componentKey === key && l.unpackedBytes)?.unpackedBytes ?? DEFAULT_LAYER_BYTES;

  // Candidates: every version on every root it supports, on each base its requires accept.
  const candidates: { root: string; keys: string[]; target: string; isNewRecipe: boolean; use: number; bytes: number }[] = [];
  for (const root of catalog.roots.keys()) {
    for (const v of current.values()) {
      if (!v.roots.includes(root)) continue;
      if (v.composable === false) {
        d.skipped.push({ key: v.key, reason: 'marked not composable in the catalog' });
        continue;
      }
      for (const keys of chains(catalog, v, root)) {
        const base = keys.filter((k) => k !== v.key);
        // A layer stands on the layers of its base: when one of them cannot be a layer, neither can it be built (the
        // layers job would refuse it), nor should it take bytes of the budget.
        const blocked = base.find((k) => current.get(k)?.composable === false);
        if (blocked) {
          d.skipped.push({ key: `${v.key} on ${base.join(' + ')}`, reason: `${blocked} under it is marked not composable in the catalog` });
          continue;
        }
        // Its layer on this base exists (then so do the layers under it: they were needed to build it).
        if (haveReady(root, v.key, base)) continue;
        const isNewRecipe = input.layers.some((l) => l.componentKey === v.key && l.recipeHash !== v.recipeHash);
        const use = Math.min(...keys.map((k) => usage.get(`${root}|${k}`) ?? 0));
        candidates.push({ root, keys, target: v.key, isNewRecipe, use, bytes: olderSize(v.key) });
      }
    }
  }
  candidates.sort((a, b) => Number(b.isNewRecipe) - Number(a.isNewRecipe) || b.use - a.use || a.keys.join().localeCompare(b.keys.join()));
  // Layers being built take their bytes too (their size as last seen, until they report their own), or the budget is
  // passed by every analysis that runs while they build.
  let bytes = input.layers
    .filter((l) => (l.status === 'ready' || l.status === 'building') && current.get(l.componentKey)?.recipeHash === l.recipeHash)
    .reduce((n, l) => n + (l.unpackedBytes ?? olderSize(l.componentKey)), 0);
  for (const c of candidates) {
    const on = c.keys.length > 1 ? ` on ${c.keys.filter((k) => k !== c.target).join(' + ')}` : '';
    if (input.budgetBytes !== undefined && bytes + c.bytes > input.budgetBytes) {
      d.skipped.push({ key: `${c.target}${on}`, reason: `over the layer budget (${Math.round(input.budgetBytes / 1024 ** 2)} MiB)` });
      continue;
    }
    bytes += c.bytes;
    const why = c.isNewRecipe ? 'a new recipe: its layer is built at once' : c.use > 0 ? `used by ~${c.use.toFixed(1)} recent builds` : 'in the catalog, not built yet';
    d.build.push({ root: c.root, components: c.keys, reason: `layer of ${c.target}${on}: ${why}` });
  }

  // Hot combinations without a verdict: verify them now, so their first build is composed at once.
  const hot = [...combos.values()]
    .filter((c) => c.keys.length > 1 && !input.judged.has(comboKey(c.root, c.keys)) && c.keys.every((k) => current.get(k)?.composable !== false))
    .sort((a, b) => b.weight - a.weight);
  for (const c of hot.slice(0, input.preverifyMax)) {
    d.verify.push({ root: c.root, components: c.keys, reason: `asked for by ~${c.weight.toFixed(1)} recent builds; verified ahead of its next build` });
  }
  return d;
}

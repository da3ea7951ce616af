// Replays a build trace under composition, to measure the share of builds that never install. A build is composed
// when every component it asks for has a ready layer (on the root, on the bases its requires need); otherwise it
// installs, and — unless a component is marked not composable — queues its combination's missing layers, as
// builder/build-route.ts does. With prebuilding, the service's own planner (analyzer/layer-prebuild.ts) also queues
// layers at every analysis. Analyses at trace-replay.ts's instants, with its warm-up rule. Pure.
import { planLayerPrebuilds, type KnownLayer } from '../../analyzer/layer-prebuild.ts';
import type { Catalog, CatalogRoot, Component, ComponentVersion } from '../../core/catalog/catalog.ts';
import { resolveComponents } from '../../core/catalog/component-resolver.ts';
import { layerBases, notComposable } from '../../core/composition/layer-plan.ts';
import { demandHours } from '../../core/templates/demand-hours.ts';
import { costOf, type Costs, type HistoryBuild } from '../../core/templates/savings.ts';
import { familyRequires, rng } from './trace-generator.ts';
import { periods } from './trace-replay.ts';

export interface CompositionOptions {
  periodSeconds: number;
  /** History the planner reads at each analysis (its "most used first" order). */
  windowSeconds: number;
  /** Periods at the start that are history and nobody's score (trace-replay.ts says why). Default 1. */
  warmupPeriods?: number;
  /** Families whose versions compose; the others are marked `composable: false` in the catalog. */
  composable: ReadonlySet<string>;
  /**
   * How long before its first build in the trace a version enters the catalog. Default 0: the trace is all we know of
   * when admins added a version, and assuming it was added the moment it was first asked for is pessimistic for
   * prebuilding — that first build cannot compose under any policy (its layer cannot exist yet).
   */
  leadSeconds?: number;
  /** Bytes of each component's layer (unpacked). */
  sizes: ReadonlyMap<string, number>;
  defaultSizeBytes: number;
  halfLifeSeconds: number;
  preverifyMax: number;
}

export interface LayerPolicy {
  name: string;
  /** Runs the planner at every analysis; without it layers are only queued by builds that miss them. */
  prebuild: boolean;
  budgetBytes?: number;
}

export interface CompositionResult {
  policy: string;
  /** Scored builds (after the warm-up). */
  builds: number;
  /** Builds that never installed: composed. */
  composed: number;
  /** Builds whose every component is composable and resolves: what could compose were every layer ready in time. */
  composable: number;
  /** Composed builds that verified their combination first (none verified it before, ahead or on demand). */
  verifiedOnBuild: number;
  /** Install seconds of all scored builds, and of those that installed (every component at full cost). */
  totalSeconds: number;
  installSeconds: number;
  /** Layers queued after the warm-up, and the install seconds that building them took. */
  layersBuilt: number;
  layerSeconds: number;
  /** Bytes of all layers at the end (warm-up included). */
  layerBytes: number;
  runtimeSeconds: number;
}

const family = (key: string) => key.slice(0, key.indexOf('@'));
const recipeHash = (key: string) => `synthetic:${key}`;
const comboKey = (root: string, keys: readonly string[]) => `${root}|${keys.join('+')}`;

/**
 * A share of the trace's families, drawn with a seeded generator. One draw per family in name order, so a larger
 * share with the same seed keeps every family a smaller one chose: the sensitivity rows differ only by the share.
 */
export function composableFamilies(keys: Iterable<string>, share: number, seed: number): Set<string> {
  const rand = rng(seed);
  // xorshift from a small seed starts near 0: its first draws would make the first families composable at any share.
  for (let i = 0; i < 16; i++) rand();
  return new Set([...new Set([...keys].map(family))].sort().filter(() => rand() < share));
}

/**
 * The catalog a trace implies: its roots, every component version it names (on every root, at its cost, never
 * changing its recipe), the requires of the generator's families (trace-generator.ts's `familyRequires`), and a
 * rank that installs what is required first.
 */
export function traceCatalog(trace: readonly HistoryBuild[], costs: Costs, composable: ReadonlySet<string>): Catalog {
  const roots = [...new Set(trace.map((b) => b.root))].sort();
  const keys = [...new Set(trace.flatMap((b) => b.components))].sort();
  const names = new Set(keys.map(family));
  const requires = (f: string) => (familyRequires[f] ?? []).filter((r) => names.has(r));
  const depth = (f: string): number => Math.max(0, ...requires(f).map((r) => 1 + depth(r)));
  const catalog: Catalog = {
    roots: new Map(roots.map((name): [string, CatalogRoot] => [name, { name, description: 'a root of the trace', debootstrap: { suite: 'bookworm', variant: 'minbase', components: ['main'] }, file: '' }])),
    components: new Map(),
  };
  for (const key of keys) {
    const name = family(key);
    const version = key.slice(name.length + 1);
    let c: Component | undefined = catalog.components.get(name);
    if (!c) catalog.components.set(name, (c = { name, description: name, rank: depth(name), default: version, file: '', versions: new Map() }));
    const v: ComponentVersion = {
      name,
      version,
      key,
      roots,
      install: { packages: [name] },
      env: {},
      smoke: 'true',
      requires: requires(name).map((component) => ({ component })),
      conflicts: [],
      costEstimateSeconds: costs.get(key) ?? 0,
      composable: composable.has(name),
      recipeHash: recipeHash(key),
      file: '',
    };
    c.versions.set(version, v);
  }
  return catalog;
}

/** The catalog with only the versions `has` keeps (components left without versions are left out). */
function catalogWith(catalog: Catalog, has: (key: string) => boolean): Catalog {
  const components = new Map<string, Component>();
  for (const [name, c] of catalog.components) {
    const versions = new Map([...c.versions].filter(([, v]) => has(v.key)));
    if (versions.size > 0) components.set(name, { ...c, default: versions.keys().next().value!, versions });
  }
  return { roots: catalog.roots, components };
}

/**
 * Bytes of every layer a fresh installation would build: each composable version on every root and on each base
 * its requires accept, when that base composes too.
 */
export function allLayerBytes(catalog: Catalog, o: Pick<CompositionOptions, 'sizes' | 'defaultSizeBytes'>): number {
  const d = planLayerPrebuilds({ catalog, history: demandHours([]), now: 0, halfLifeSeconds: 1, layers: [], judged: new Set(), preverifyMax: 0 });
  const composes = (key: string) => catalog.components.get(family(key))?.versions.get(key.slice(key.indexOf('@') + 1))?.composable !== false;
  // A chain is in install order; what requires the others ranks last, so its last key is the layer it builds.
  return d.build.filter((b) => b.components.every(composes)).reduce((n, b) => n + (o.sizes.get(b.components.at(-1)!) ?? o.defaultSizeBytes), 0);
}

interface Layer {
  root: string;
  key: string;
  baseKeys: string[];
  readyAt: number;
  bytes: number;
}

export function compositionReplay(trace: readonly HistoryBuild[], costs: Costs, policy: LayerPolicy, o: CompositionOptions): CompositionResult {
  const started = performance.now();
  const r: CompositionResult = { policy: policy.name, builds: 0, composed: 0, composable: 0, verifiedOnBuild: 0, totalSeconds: 0, installSeconds: 0, layersBuilt: 0, layerSeconds: 0, layerBytes: 0, runtimeSeconds: 0 };
  const catalog = traceCatalog(trace, costs, o.composable);
  const enters = new Map<string, number>();
  for (const b of trace) for (const k of b.components) enters.set(k, Math.min(enters.get(k) ?? Infinity, b.t - (o.leadSeconds ?? 0)));
  const layers = new Map<string, Layer>();
  /** When each combination's verification is (or will be) done: queued with its layers, or by its first composed build. */
  const verifiedAt = new Map<string, number>();
  const layerId = (root: string, key: string, baseKeys: readonly string[]) => `${root}|${key}|${baseKeys.join('+')}`;
  const resolve = (root: string, keys: readonly string[]) => {
    const res = resolveComponents(catalog, root, [...keys]);
    return res.problems.length > 0 ? undefined : res.components;
  };

  // A layers job: the combination's missing layers one after another in install order, as ensureLayers builds them
  // (waiting for one that another job is building). Builders are assumed free: a job starts when queued. Like
  // builder/layers-job.ts, a job with a component marked not composable does nothing (the planner proposes cuda on a
  // gcc that does not compose).
  const queue = (root: string, components: ComponentVersion[], t: number, charged: boolean): number => {
    if (notComposable(catalog, components).length > 0) return Infinity;
    const bases = layerBases(catalog, components);
    let at = t;
    for (const c of components) {
      const baseKeys = bases.get(c.key)!.map((b) => b.key);
      const id = layerId(root, c.key, baseKeys);
      let l = layers.get(id);
      if (!l) {
        at += costs.get(c.key) ?? 0;
        layers.set(id, (l = { root, key: c.key, baseKeys, readyAt: at, bytes: o.sizes.get(c.key) ?? o.defaultSizeBytes }));
        if (charged) {
          r.layersBuilt++;
          r.layerSeconds += costs.get(c.key) ?? 0;
        }
      }
      at = Math.max(at, l.readyAt);
    }
    return at;
  };
  // Verification itself is taken as instant and always successful: it adds no install either way.
  const queueVerified = (root: string, components: ComponentVersion[], t: number, charged: boolean) => {
    const done = queue(root, components, t, charged);
    const k = comboKey(root, components.map((c) => c.key));
    if (!verifiedAt.has(k) && done < Infinity) verifiedAt.set(k, done);
  };

  const analyse = (now: number, past: readonly HistoryBuild[]) => {
    const known: KnownLayer[] = [...layers].map(([id, l]) => ({
      id,
      root: l.root,
      componentKey: l.key,
      recipeHash: recipeHash(l.key),
      baseKeys: l.baseKeys,
      status: l.readyAt <= now ? 'ready' : 'building',
      unpackedBytes: l.readyAt <= now ? l.bytes : null,
    }));
    const d = planLayerPrebuilds({
      catalog: catalogWith(catalog, (k) => enters.get(k)! <= now),
      history: demandHours(past),
      now,
      halfLifeSeconds: o.halfLifeSeconds,
      layers: known,
      // Queued verifications count as judged: the service's job id would not queue them twice either.
      judged: new Set(verifiedAt.keys()),
      ...(policy.budgetBytes === undefined ? {} : { budgetBytes: policy.budgetBytes }),
      preverifyMax: o.preverifyMax,
    });
    for (const b of d.build) queue(b.root, resolve(b.root, b.components)!, now, true);
    for (const v of d.verify) queueVerified(v.root, resolve(v.root, v.components)!, now, true);
  };

  const seen: HistoryBuild[] = [];
  const warmup = o.warmupPeriods ?? 1;
  for (const [index, { start, builds }] of periods(trace, o.periodSeconds).entries()) {
    const scored = index >= warmup;
    // As in trace-replay.ts, no policy acts in the warm-up; builds queue their missing layers in it all the same.
    if (scored && policy.prebuild) analyse(start, seen.filter((b) => b.t >= start - o.windowSeconds));
    for (const b of builds) {
      seen.push(b);
      const cost = costOf(b.components, costs);
      const components = resolve(b.root, b.components);
      // The api refuses a combination the catalog cannot resolve, and a build with a component marked not
      // composable installs without queuing anything.
      const composable = components !== undefined && notComposable(catalog, components).length === 0;
      let composed = false;
      if (components && composable) {
        const bases = layerBases(catalog, components);
        composed = components.every((c) => (layers.get(layerId(b.root, c.key, bases.get(c.key)!.map((x) => x.key)))?.readyAt ?? Infinity) <= b.t);
        if (composed) {
          const k = comboKey(b.root, components.map((c) => c.key));
          if (!((verifiedAt.get(k) ?? Infinity) <= b.t)) {
            if (scored) r.verifiedOnBuild++;
            verifiedAt.set(k, b.t);
          }
        } else queueVerified(b.root, components, b.t, scored);
      }
      if (!scored) continue;
      r.builds++;
      r.totalSeconds += cost;
      if (composable) r.composable++;
      if (composed) r.composed++;
      else r.installSeconds += cost;
    }
  }
  r.layerBytes = [...layers.values()].reduce((n, l) => n + l.bytes, 0);
  r.runtimeSeconds = (performance.now() - started) / 1000;
  return r;
}

export interface CompositionTable {
  families: number;
  composable: string[];
  /** The byte budget of the budgeted run: half of every layer's bytes. */
  budgetBytes: number;
  allBytes: number;
  /** Layers on demand only; kiln's planner, no budget; kiln's planner within `budgetBytes`. */
  rows: CompositionResult[];
  /**
   * Share of scored builds that never install, per composable share: with the families `seed` draws, and kiln's
   * mean, least and most over the next `draws` seeds (which families compose moves it as much as how many do).
   */
  sensitivity: { share: number; composable: string[]; onDemand: number; kiln: number; ceiling: number; draws: { mean: number; min: number; max: number } }[];
}

/** The policies side by side, and how the share moves with the share of families that compose. */
export function compositionTable(
  trace: readonly HistoryBuild[],
  costs: Costs,
  t: { periodSeconds: number; warmupPeriods: number; composableShare: number; shares: number[]; seed: number; draws: number; leadSeconds: number; sizes: ReadonlyMap<string, number>; defaultSizeBytes: number; halfLifeSeconds: number; preverifyMax: number },
): CompositionTable {
  const keys = [...new Set(trace.flatMap((b) => b.components))];
  const options = (share: number, seed = t.seed): CompositionOptions => ({
    periodSeconds: t.periodSeconds,
    windowSeconds: 28 * 86400,
    warmupPeriods: t.warmupPeriods,
    composable: composableFamilies(keys, share, seed),
    leadSeconds: t.leadSeconds,
    sizes: t.sizes,
    defaultSizeBytes: t.defaultSizeBytes,
    halfLifeSeconds: t.halfLifeSeconds,
    preverifyMax: t.preverifyMax,
  });
  const o = options(t.composableShare);
  const allBytes = allLayerBytes(traceCatalog(trace, costs, o.composable), o);
  const budgetBytes = Math.round(allBytes / 2);
  const rows = [
    compositionReplay(trace, costs, { name: 'layers on demand only', prebuild: false }, o),
    compositionReplay(trace, costs, { name: 'kiln prebuild, no budget', prebuild: true }, o),
    compositionReplay(trace, costs, { name: 'kiln prebuild, half the bytes', prebuild: true, budgetBytes }, o),
  ];
  const share = (r: CompositionResult) => r.composed / r.builds;
  const sensitivity = t.shares.map((s) => {
    const so = options(s);
    const kiln = compositionReplay(trace, costs, { name: 'kiln', prebuild: true }, so);
    // At a share of 0 or 1 every draw chooses the same families.
    const drawn = Array.from({ length: s > 0 && s < 1 ? t.draws : 1 }, (_, i) => share(compositionReplay(trace, costs, { name: 'kiln', prebuild: true }, options(s, t.seed + 1 + i))));
    return {
      share: s,
      composable: [...so.composable].sort(),
      onDemand: share(compositionReplay(trace, costs, { name: 'on demand', prebuild: false }, so)),
      kiln: share(kiln),
      ceiling: kiln.composable / kiln.builds,
      draws: { mean: drawn.reduce((a, b) => a + b, 0) / drawn.length, min: Math.min(...drawn), max: Math.max(...drawn) },
    };
  });
  return { families: new Set(keys.map(family)).size, composable: [...o.composable].sort(), budgetBytes, allBytes, rows, sensitivity };
}

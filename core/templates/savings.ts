// The objective the analyzer maximizes, as pure functions: what a set of templates saves over a build history, and
// what templates cost. The selector, the planner's template choice and the trace replay all use these, not copies.

/** One past build, reduced to what matters for templates. */
export interface HistoryBuild {
  root: string;
  /** Component keys (`name@version`). */
  components: string[];
  /** When it ran, in seconds (any epoch, same as `now`). */
  t: number;
  /** Components the engine's layer cache served (not installed), where known. */
  cached?: string[];
  covered?: string[];
}

/** A template as the scorer sees it: a root and a component set. */
export interface TemplateSet {
  root: string;
  components: string[];
}

/** Install seconds per component key. */
export type Costs = ReadonlyMap<string, number>;

export interface ScoreOptions {
  /** Evaluation time (seconds); builds are weighted by how long before it they ran. */
  now: number;
  /** A build's weight halves every `halfLifeSeconds` (recent history matters more: tastes drift). */
  halfLifeSeconds: number;
  /**
   * What keeping one template costs per analysis horizon, in install-seconds: registry storage, rebuilds when
   * recipes change, engine disk. Charged per GiB of estimated size.
   */
  storageSecondsPerGiB: number;
  /** Estimated installed size per component key, bytes (real template sizes once known). */
  sizes: ReadonlyMap<string, number>;
  /** Size assumed for a component with no estimate. */
  defaultSizeBytes: number;
}

export const setKey = (root: string, components: readonly string[]) => `${root}|${[...components].sort().join('+')}`;

export const costOf = (components: Iterable<string>, costs: Costs): number => {
  let sum = 0;
  for (const k of components) sum += costs.get(k) ?? 0;
  return sum;
};

export const isSubset = (small: readonly string[], big: ReadonlySet<string>): boolean => small.every((k) => big.has(k));

export const recencyWeight = (t: number, opts: Pick<ScoreOptions, 'now' | 'halfLifeSeconds'>): number =>
  Math.pow(0.5, Math.max(0, opts.now - t) / opts.halfLifeSeconds);

/** saved(b, T): the most install seconds any template of b's root whose components b all wants would spare it. */
export function bestTemplateFor<T extends TemplateSet>(build: { root: string; components: readonly string[] }, templates: readonly T[], costs: Costs): { template: T; saved: number } | undefined {
  const wanted = new Set(build.components);
  let best: { template: T; saved: number } | undefined;
  for (const t of templates) {
    if (t.root !== build.root || !isSubset(t.components, wanted)) continue;
    const saved = costOf(t.components, costs);
    if (saved > (best?.saved ?? 0)) best = { template: t, saved };
  }
  return best;
}

export function estimatedBytes(components: readonly string[], opts: Pick<ScoreOptions, 'sizes' | 'defaultSizeBytes'>): number {
  return components.reduce((n, k) => n + (opts.sizes.get(k) ?? opts.defaultSizeBytes), 0);
}

/**
 * The parent a template would be built FROM inside a set: the chosen template of the same root, strictly smaller,
 * contained in it, that covers the most install seconds. Building from it costs only the difference.
 */
export function parentWithin<T extends TemplateSet>(t: TemplateSet, set: readonly T[], costs: Costs): T | undefined {
  const mine = new Set(t.components);
  let best: T | undefined;
  for (const p of set) {
    if (p.root !== t.root || p.components.length >= t.components.length || !isSubset(p.components, mine)) continue;
    if (!best || costOf(p.components, costs) > costOf(best.components, costs)) best = p;
  }
  return best;
}

/** What a template costs: building it (from its best parent in `set`, nested) plus keeping it. */
export function templateCost(t: TemplateSet, set: readonly TemplateSet[], costs: Costs, opts: ScoreOptions): number {
  const parent = parentWithin(t, set, costs);
  const build = costOf(t.components, costs) - (parent ? costOf(parent.components, costs) : 0);
  return build + (estimatedBytes(t.components, opts) / 1024 ** 3) * opts.storageSecondsPerGiB;
}

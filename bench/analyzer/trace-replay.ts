// Replays a build trace under a template policy. The rules are the same for every policy: analyses at the same
// instants (every `periodSeconds` from the trace's first build), templates usable from the analysis that chose them,
// the same first scored period, and the same accounting — each build is charged the install seconds its best template
// does not cover (and, with a layer cache, that the cache does not cover either), and every template build, re-adds
// included, is charged the template's full install seconds (with a layer cache, those the cache does not cover). Pure.
import { analyzeDemand, type AnalysisOptions, type AnalysisState } from '../../analyzer/analysis.ts';
import { aggregateDemand, countsBetween } from '../../analyzer/demand.ts';
import { selectOnWeights, selectTemplates } from '../../analyzer/template-selector.ts';
import { bestTemplateFor, costOf, estimatedBytes, setKey, type Costs, type HistoryBuild, type TemplateSet } from '../../core/templates/savings.ts';
import { LayerCache, type LayerCacheOptions } from './layer-cache.ts';

export interface ReplayOptions {
  periodSeconds: number;
  /** History the policies look back over at each analysis. */
  windowSeconds: number;
  maxTemplates: number;
  /**
   * Periods at the trace's start that are every policy's history and nobody's score. A trace is a window cut from an
   * installation's life: at its first instant no online policy knows anything, while a clairvoyant already knows the
   * first period, so scoring it would measure where the window was cut, not how well a policy predicts. Default 1.
   */
  warmupPeriods?: number;
  /** Template bytes a policy may hold (the storage runs give templates part of each host). */
  maxBytes?: number;
  analysis: Omit<AnalysisOptions, 'now' | 'maxTemplates' | 'built' | 'windowSeconds'>;
}

export interface ReplayResult {
  policy: string;
  /** Scored builds (after the warm-up). */
  builds: number;
  /** Install seconds all scored builds would spend with nothing reused. */
  totalSeconds: number;
  /** Install seconds templates spared builds. */
  savedSeconds: number;
  /** Install seconds the layer cache spared them (on top of their template). */
  cacheSeconds: number;
  /** Seconds spent building templates. */
  templateSeconds: number;
  /** savedSeconds + cacheSeconds − templateSeconds */
  netSeconds: number;
  templatesBuilt: number;
  /** Template builds of a set that had been dropped less than a week before. */
  rebuilds: number;
  runtimeSeconds: number;
}

/**
 * Decides the template set for the next period from what it may know. `memory` is the policy's own, kept from one
 * analysis to the next within one replay (what the service keeps in its database between runs).
 */
export type Policy = (ctx: { past: HistoryBuild[]; next: HistoryBuild[]; now: number; current: TemplateSet[]; memory: PolicyMemory }) => TemplateSet[];
export interface PolicyMemory {
  analysis?: AnalysisState;
}

const keyOf = (t: TemplateSet) => setKey(t.root, t.components);

/** The trace cut into analysis periods, from its first build on. */
export function periods(trace: readonly HistoryBuild[], periodSeconds: number): { start: number; builds: HistoryBuild[] }[] {
  const sorted = [...trace].sort((a, b) => a.t - b.t);
  const out: { start: number; builds: HistoryBuild[] }[] = [];
  if (sorted.length === 0) return out;
  for (let i = 0, start = sorted[0]!.t; i < sorted.length; start += periodSeconds) {
    const p = { start, builds: [] as HistoryBuild[] };
    while (i < sorted.length && sorted[i]!.t < start + periodSeconds) p.builds.push(sorted[i++]!);
    out.push(p);
  }
  return out;
}

export function replay(name: string, trace: readonly HistoryBuild[], costs: Costs, policy: Policy, opts: ReplayOptions, cacheOpts?: LayerCacheOptions): ReplayResult {
  const started = performance.now();
  const r: ReplayResult = { policy: name, builds: 0, totalSeconds: 0, savedSeconds: 0, cacheSeconds: 0, templateSeconds: 0, netSeconds: 0, templatesBuilt: 0, rebuilds: 0, runtimeSeconds: 0 };
  const cache = cacheOpts ? new LayerCache(cacheOpts) : undefined;
  const sizes = cacheOpts ?? { sizes: new Map<string, number>(), defaultSizeBytes: 0 };
  const dropped = new Map<string, number>();
  let current: TemplateSet[] = [];
  const seen: HistoryBuild[] = [];
  const memory: PolicyMemory = {};
  const warmup = opts.warmupPeriods ?? 1;
  for (const [index, { start, builds }] of periods(trace, opts.periodSeconds).entries()) {
    if (index < warmup) {
      // Nobody's templates, but the cache works already.
      for (const b of builds) seen.push(cache ? { ...b, cached: cache.build(b.root, b.components, costs).cached } : b);
      continue;
    }
    const past = seen.filter((b) => b.t >= start - opts.windowSeconds);
    const next = policy({ past, next: builds, now: start, current, memory });
    const had = new Set(current.map(keyOf));
    const keeps = new Set(next.map(keyOf));
    for (const t of current) if (!keeps.has(keyOf(t))) dropped.set(keyOf(t), start);
    for (const t of next) {
      if (had.has(keyOf(t))) continue;
      // A template is built by a builder like any build: with a layer cache, on its engine and through its cache.
      r.templateSeconds += costOf(t.components, costs) - (cache?.build(t.root, t.components, costs, false).saved ?? 0);
      r.templatesBuilt++;
      if (start - (dropped.get(keyOf(t)) ?? -Infinity) < 7 * 86400) r.rebuilds++;
    }
    current = next;
    cache?.setTemplateBytes(current.reduce((n, t) => n + estimatedBytes(t.components, sizes), 0));
    r.builds += builds.length;
    for (const b of builds) {
      r.totalSeconds += costOf(b.components, costs);
      const best = bestTemplateFor(b, current, costs);
      r.savedSeconds += best?.saved ?? 0;
      if (!cache) {
        seen.push(b);
        continue;
      }
      const covered = new Set(best?.template.components ?? []);
      const served = cache.build(best ? `tpl:${keyOf(best.template)}` : b.root, b.components.filter((k) => !covered.has(k)), costs);
      r.cacheSeconds += served.saved;
      // What the policies see next time, as the service records it: which installs the layer cache served.
      seen.push({ ...b, cached: served.cached, covered: best?.template.components ?? [] });
    }
  }
  r.netSeconds = r.savedSeconds + r.cacheSeconds - r.templateSeconds;
  r.runtimeSeconds = (performance.now() - started) / 1000;
  return r;
}

const built = (current: TemplateSet[]) => new Set(current.map(keyOf));

export const policies = {
  none: (): Policy => () => [],

  topK: (k: number): Policy => ({ past }) => {
    const counts = new Map<string, { t: TemplateSet; n: number }>();
    for (const b of past) {
      const key = setKey(b.root, b.components);
      const e = counts.get(key) ?? { t: { root: b.root, components: [...b.components].sort() }, n: 0 };
      e.n++;
      counts.set(key, e);
    }
    return [...counts.values()].sort((a, b) => b.n - a.n).slice(0, k).map((e) => e.t);
  },

  /** Plain online greedy: one recency weighting, no swaps, no choice of weighting, no hysteresis. */
  greedy: (costs: Costs, opts: ReplayOptions): Policy => ({ past, now, current }) =>
    selectTemplates(past, costs, {
      ...opts.analysis,
      ...(opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }),
      now,
      halfLifeSeconds: opts.analysis.defaultHalfLife,
      maxTemplates: opts.maxTemplates,
      built: built(current),
      swapPasses: 0,
    }).templates,

  /** The service's own analysis (analyzer/analysis.ts), not a copy, handed what its previous run left as the service does. */
  kiln: (costs: Costs, opts: ReplayOptions): Policy => ({ past, now, current, memory }) => {
    const a = analyzeDemand(aggregateDemand(past, costs), costs, {
      ...opts.analysis,
      ...(opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }),
      now,
      windowSeconds: opts.windowSeconds,
      maxTemplates: opts.maxTemplates,
      built: built(current),
      ...(memory.analysis ? { previous: memory.analysis } : {}),
    });
    memory.analysis = { at: now, halfLife: a.halfLife, choice: a.choice, held: a.held };
    return a.templates.templates;
  },

  /**
   * The daily clairvoyant heuristic: knows exactly which builds the next period brings and chooses for them, paying
   * each template it adds its full build cost (kept ones are free). A strong reference, not a bound.
   */
  clairvoyant: (costs: Costs, opts: ReplayOptions): Policy => ({ next, current }) => {
    const demand = aggregateDemand(next, costs);
    return selectOnWeights(demand.combos, countsBetween(demand, -Infinity, Infinity), costs, {
      ...opts.analysis,
      maxTemplates: opts.maxTemplates,
      built: built(current),
      minSupport: 0,
      minTemplateSeconds: 0,
      storageSecondsPerGiB: 0,
      nested: false,
    }).templates;
  },
};

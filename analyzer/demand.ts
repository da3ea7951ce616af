// Demand: the build history folded into distinct combinations (root + component set), each with the times its builds
// ran, so that every later step works on tens of thousands of combinations instead of hundreds of thousands of builds.
// Any decision the analyzer makes from history (templates today; component layers and pre-verified combinations once
// images compose) reads the same demand under the same recency weighting. Pure.
import { demandHours, type DemandHours } from '../core/templates/demand-hours.ts';
import { costOf, setKey, type Costs } from '../core/templates/savings.ts';

/** One past build, or `count` builds of the same combination that ended at about the same time. */
export interface DemandRow {
  root: string;
  components: readonly string[];
  /** Seconds, any epoch (the same as every `at` given below). */
  t: number;
  count?: number;
  /** Components the layer cache served (the build did not install them). */
  cached?: readonly string[];
  covered?: readonly string[];
}

export interface Combination {
  root: string;
  /** Component keys, sorted. */
  components: string[];
  key: string;
  /** Install seconds of the whole combination (what a build of it spends with nothing reused). */
  cost: number;
}

export interface Demand {
  combos: Combination[];
  /**
   * Every combination's build times, ascending, at offsets[i]..offsets[i + 1], with how many builds each stands for
   * and how much of them a template could still spare: each build counts the share of its install seconds the layer
   * cache did not serve (1 when nothing was cached, or nothing is known).
   */
  offsets: Int32Array;
  times: Float64Array;
  counts: Float64Array;
  exposed: Float64Array;
  /** Earliest and latest build time. */
  first: number;
  last: number;
  builds: number;
  /** Per half-life: 2^(−(last − t) / halfLife) for every time, so that a weighting at any moment needs no exp. */
  decay: Map<number, Float64Array>;
}

export function aggregateDemand(history: Iterable<DemandRow> | DemandHours, costs: Costs): Demand {
  const d = 'combo' in history ? history : demandHours(history);
  // One canonical combination per distinct component set (rows may name one set in several orders).
  const index = new Map<string, number>();
  const combos: Combination[] = [];
  const exposure = exposures(d, costs);
  const canonical = Int32Array.from(d.combos, (c) => {
    const components = [...c.components].sort();
    const key = setKey(c.root, components);
    let i = index.get(key);
    if (i === undefined) {
      i = combos.push({ root: c.root, components, key, cost: costOf(components, costs) }) - 1;
      index.set(key, i);
    }
    return i;
  });
  // Rows grouped by combination (counting sort), each group then put in time order.
  const rows = d.combo.length;
  const offsets = new Int32Array(combos.length + 1);
  for (let r = 0; r < rows; r++) offsets[canonical[d.combo[r]!]! + 1]!++;
  for (let i = 0; i < combos.length; i++) offsets[i + 1]! += offsets[i]!;
  const next = offsets.slice(0, combos.length);
  const times = new Float64Array(rows);
  const counts = new Float64Array(rows);
  const exposed = new Float64Array(rows);
  let first = Infinity;
  let last = -Infinity;
  let builds = 0;
  for (let r = 0; r < rows; r++) {
    const at = next[canonical[d.combo[r]!]!]!++;
    times[at] = d.t[r]!;
    counts[at] = d.count[r]!;
    exposed[at] = d.count[r]! * exposure[d.combo[r]!]!;
    builds += d.count[r]!;
    if (d.t[r]! < first) first = d.t[r]!;
    if (d.t[r]! > last) last = d.t[r]!;
  }
  for (let i = 0; i < combos.length; i++) sortByTime(times, [counts, exposed], offsets[i]!, offsets[i + 1]!);
  return { combos, offsets, times, counts, exposed, first, last, builds, decay: new Map() };
}

/**
 * Per combination of the rows: the share of its install seconds a template could still spare, after the layer cache.
 * Installs the cache served spare nothing more; installs a template served are the unknown — would the cache have
 * served them had the template not been there? — and count as the cache served the installs builds did run, over
 * the whole history: a measured rate, not a model of the cache, which kiln cannot see (its size, its hosts).
 */
function exposures(d: DemandHours, costs: Costs): Float64Array {
  const builds = new Float64Array(d.combos.length);
  for (let r = 0; r < d.combo.length; r++) builds[d.combo[r]!]! += d.count[r]!;
  const part = (c: DemandHours['combos'][number], keys: readonly string[] | undefined) => costOf((keys ?? []).filter((k) => c.components.includes(k)), costs);
  let served = 0;
  let ran = 0;
  d.combos.forEach((c, i) => {
    served += builds[i]! * part(c, c.cached);
    ran += builds[i]! * (costOf(c.components, costs) - part(c, c.covered));
  });
  const rate = ran > 0 ? served / ran : 0;
  return Float64Array.from(d.combos, (c) => {
    const all = costOf(c.components, costs);
    return all > 0 ? 1 - (part(c, c.cached) + rate * part(c, c.covered)) / all : 1;
  });
}

/** Sorts times[from, to) ascending, the other columns alongside (rows usually arrive in time order already). */
function sortByTime(times: Float64Array, others: Float64Array[], from: number, to: number): void {
  let sorted = true;
  for (let j = from + 1; j < to && sorted; j++) sorted = times[j - 1]! <= times[j]!;
  if (sorted) return;
  const order = Array.from({ length: to - from }, (_, j) => from + j).sort((x, y) => times[x]! - times[y]!);
  for (const col of [times, ...others]) col.set(order.map((j) => col[j]!), from);
}

/**
 * Recency-weighted build count of every combination as seen at time `at`, each build counted by its exposure (the
 * share of its installs the layer cache left to do): builds at or after `at` do not count (they have not happened yet
 * from there), a build `a` seconds before counts 0.5^(a / halfLife), and builds older than `windowSeconds` before `at`
 * not at all.
 */
export function weightsAt(d: Demand, at: number, halfLifeSeconds: number, windowSeconds = Infinity): Float64Array {
  const w = new Float64Array(d.combos.length);
  const from = at - windowSeconds;
  // 0.5^((at − x)/h) = 0.5^((last − x)/h) × 2^((last − at)/h), with the first factor computed once per half-life —
  // unless the history is so long against the half-life that it would underflow.
  const span = (d.last - Math.max(from, d.first)) / halfLifeSeconds;
  const cached = span < 900 && (d.last - at) / halfLifeSeconds < 900;
  let decay = cached ? d.decay.get(halfLifeSeconds) : undefined;
  if (cached && !decay) {
    decay = d.times.map((x) => Math.pow(0.5, (d.last - x) / halfLifeSeconds));
    d.decay.set(halfLifeSeconds, decay);
  }
  const scale = Math.pow(2, (d.last - at) / halfLifeSeconds);
  const { offsets, times, exposed: counts } = d;
  for (let i = 0; i < w.length; i++) {
    let sum = 0;
    for (let j = offsets[i]!; j < offsets[i + 1]!; j++) {
      const x = times[j]!;
      if (x >= at) break;
      if (x < from) continue;
      sum += counts[j]! * (decay ? decay[j]! * scale : Math.pow(0.5, (at - x) / halfLifeSeconds));
    }
    w[i] = sum;
  }
  return w;
}

/** How many builds of every combination ran in [from, to) (`exposed`: each counted by its exposure, as weightsAt). */
export function countsBetween(d: Demand, from: number, to: number, column: 'counts' | 'exposed' = 'counts'): Float64Array {
  const c = new Float64Array(d.combos.length);
  const { offsets, times } = d;
  const counts = d[column];
  for (let i = 0; i < c.length; i++) {
    let sum = 0;
    for (let j = offsets[i]!; j < offsets[i + 1]!; j++) {
      const x = times[j]!;
      if (x >= to) break;
      if (x >= from) sum += counts[j]!;
    }
    c[i] = sum;
  }
  return c;
}


// Demand: the build history folded into distinct combinations (root + component set), each with the times its builds
// ran, so that every later step works on tens of thousands of combinations instead of hundreds of thousands of builds.
// Any decision the analyzer makes from history (templates today; component layers and pre-verified combinations once
// images compose) reads the same demand under the same recency weighting. Pure.
import { costOf, setKey, type Costs } from '../core/templates/savings.ts';

/** One past build, or `count` builds of the same combination that ended at about the same time. */
export interface DemandRow {
  root: string;
  components: readonly string[];
  /** Seconds, any epoch (the same as every `at` given below). */
  t: number;
  count?: number;
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
  /** Per combination: build times, ascending, and how many builds each stands for. */
  times: Float64Array[];
  counts: Float64Array[];
  /** Earliest and latest build time. */
  first: number;
  last: number;
  builds: number;
}

export function aggregateDemand(rows: Iterable<DemandRow>, costs: Costs): Demand {
  const index = new Map<string, number>();
  const combos: Combination[] = [];
  const t: number[][] = [];
  const n: number[][] = [];
  let first = Infinity;
  let last = -Infinity;
  let builds = 0;
  for (const r of rows) {
    const key = setKey(r.root, r.components);
    let i = index.get(key);
    if (i === undefined) {
      i = combos.length;
      index.set(key, i);
      const components = [...r.components].sort();
      combos.push({ root: r.root, components, key, cost: costOf(components, costs) });
      t.push([]);
      n.push([]);
    }
    const count = r.count ?? 1;
    t[i]!.push(r.t);
    n[i]!.push(count);
    builds += count;
    if (r.t < first) first = r.t;
    if (r.t > last) last = r.t;
  }
  const times: Float64Array[] = [];
  const counts: Float64Array[] = [];
  t.forEach((ts, i) => {
    const order = ts.map((_, j) => j).sort((a, b) => ts[a]! - ts[b]!);
    times.push(Float64Array.from(order, (j) => ts[j]!));
    counts.push(Float64Array.from(order, (j) => n[i]![j]!));
  });
  return { combos, times, counts, first, last, builds };
}

/**
 * Recency-weighted build count of every combination as seen at time `at`: builds at or after `at` do not count (they
 * have not happened yet from there), a build `a` seconds before counts 0.5^(a / halfLife), and builds older than
 * `windowSeconds` before `at` not at all.
 */
export function weightsAt(d: Demand, at: number, halfLifeSeconds: number, windowSeconds = Infinity): Float64Array {
  const w = new Float64Array(d.combos.length);
  const from = at - windowSeconds;
  const k = Math.LN2 / halfLifeSeconds;
  for (let i = 0; i < w.length; i++) {
    const ts = d.times[i]!;
    const ns = d.counts[i]!;
    let sum = 0;
    for (let j = 0; j < ts.length; j++) {
      const x = ts[j]!;
      if (x >= at) break;
      if (x < from) continue;
      sum += ns[j]! * Math.exp(-k * (at - x));
    }
    w[i] = sum;
  }
  return w;
}

/** How many builds of every combination ran in [from, to). */
export function countsBetween(d: Demand, from: number, to: number): Float64Array {
  const c = new Float64Array(d.combos.length);
  for (let i = 0; i < c.length; i++) {
    const ts = d.times[i]!;
    const ns = d.counts[i]!;
    let sum = 0;
    for (let j = 0; j < ts.length; j++) {
      const x = ts[j]!;
      if (x >= to) break;
      if (x >= from) sum += ns[j]!;
    }
    c[i] = sum;
  }
  return c;
}

// Template candidates: the closed frequent component sets of the demand (sets that are exactly what all the
// combinations containing them share), found with LCM (Uno et al.'s prefix-preserving closure extension), keeping
// the `maxCandidates` most valuable. Not every subset of every combination: a subset that is not closed has a closed
// superset wanted by exactly the same builds, which saves more on each of them. Pure.
import { isSubset, setKey, type Costs } from '../core/templates/savings.ts';
import type { Combination } from './demand.ts';

export interface Candidate {
  root: string;
  /** Sorted component keys. */
  components: string[];
  key: string;
  /** Install seconds of the set. */
  cost: number;
  /** Indices of the demand's combinations that contain it. */
  cover: Int32Array;
}

export interface MiningOptions {
  /** A set must be wanted by at least this many (weighted) builds under some weighting. */
  minSupport: number;
  /** Sets that install faster than this are not kept (their supersets still are). */
  minTemplateSeconds: number;
  /** Keep at most this many, the most valuable first (value: the most builds × seconds it could spare). */
  maxCandidates: number;
}

/**
 * `weightings`: one weight per combination for each recency weighting the selection may use; a set is kept when its
 * value under any of them ranks among the best. `extra`: sets that must be candidates whatever their support (the
 * templates that exist, so the selection can decide to keep them).
 */
export function mineCandidates(
  combos: readonly Combination[],
  weightings: readonly Float64Array[],
  costs: Costs,
  opts: MiningOptions,
  extra: readonly { root: string; components: readonly string[] }[] = [],
): Candidate[] {
  const found = new TopN(opts.maxCandidates);
  const byRoot = new Map<string, number[]>();
  combos.forEach((c, i) => (byRoot.get(c.root) ?? byRoot.set(c.root, []).get(c.root)!).push(i));
  for (const [root, members] of byRoot) mineRoot(root, members, combos, weightings, costs, opts, found);

  const have = new Set<string>();
  // A single component may be found both as a closed set and as a singleton.
  const out = found.values().filter((c) => !have.has(c.key) && have.add(c.key));
  for (const e of extra) {
    const key = setKey(e.root, e.components);
    if (have.has(key)) continue;
    have.add(key);
    const cover: number[] = [];
    combos.forEach((c, i) => c.root === e.root && isSubset(e.components, new Set(c.components)) && cover.push(i));
    const components = [...e.components].sort();
    out.push({ root: e.root, components, key, cost: components.reduce((n, k) => n + (costs.get(k) ?? 0), 0), cover: Int32Array.from(cover) });
  }
  return out;
}

function mineRoot(
  root: string,
  members: number[],
  combos: readonly Combination[],
  weightings: readonly Float64Array[],
  costs: Costs,
  opts: MiningOptions,
  found: TopN,
): void {
  // Items of this root as small integers, in key order; each transaction as its sorted item numbers.
  const names = [...new Set(members.flatMap((i) => combos[i]!.components))].sort();
  const itemOf = new Map(names.map((k, i) => [k, i]));
  const itemCost = names.map((k) => costs.get(k) ?? 0);
  const trans = new Map<number, Int32Array>(members.map((i) => [i, Int32Array.from(combos[i]!.components.map((k) => itemOf.get(k)!)).sort()]));
  const count = new Int32Array(names.length);

  const K = weightings.length;
  const supportOf = (cover: ArrayLike<number>) => {
    let best = 0;
    for (const w of weightings) {
      let s = 0;
      for (let j = 0; j < cover.length; j++) s += w[cover[j]!]!;
      if (s > best) best = s;
    }
    return best;
  };
  /** The items every transaction of `cover` holds. */
  const closure = (cover: ArrayLike<number>): number[] => {
    count.fill(0);
    for (let j = 0; j < cover.length; j++) for (const e of trans.get(cover[j]!)!) count[e]!++;
    const out: number[] = [];
    for (let e = 0; e < names.length; e++) if (count[e] === cover.length) out.push(e);
    return out;
  };
  const record = (items: number[], cover: Int32Array, sup: number) => {
    if (items.length === 0) return;
    const cost = items.reduce((n, e) => n + itemCost[e]!, 0);
    if (cost < opts.minTemplateSeconds) return;
    const components = items.map((e) => names[e]!);
    found.offer(sup * cost, { root, components, key: setKey(root, components), cost, cover });
  };

  const visit = (p: number[], cover: Int32Array, core: number) => {
    const inP = new Uint8Array(names.length);
    for (const e of p) inP[e] = 1;
    // Occurrence deliver: the cover of p ∪ {e} for every item e past the core, and its support under every
    // weighting, in two passes over p's cover.
    const n = new Int32Array(names.length);
    const sup = new Float64Array(names.length * K);
    // Per weighting, Σ weight × the combination's whole cost: no set inside those combinations is worth more.
    const reach = new Float64Array(names.length * K);
    const bound = new Float64Array(names.length);
    for (let j = 0; j < cover.length; j++) {
      const g = cover[j]!;
      for (const e of trans.get(g)!) {
        if (e <= core || inP[e]) continue;
        n[e]!++;
        for (let k = 0; k < K; k++) {
          sup[e * K + k]! += weightings[k]![g]!;
          reach[e * K + k]! += weightings[k]![g]! * combos[g]!.cost;
        }
      }
    }
    const subs: (Int32Array | undefined)[] = [];
    const fill = new Int32Array(names.length);
    for (let e = core + 1; e < names.length; e++) {
      if (n[e] === 0) continue;
      let best = 0;
      for (let k = 0; k < K; k++) {
        best = Math.max(best, sup[e * K + k]!);
        bound[e] = Math.max(bound[e]!, reach[e * K + k]!);
      }
      sup[e * K] = best;
      if (best >= opts.minSupport && bound[e]! >= found.threshold) subs[e] = new Int32Array(n[e]!);
    }
    for (let j = 0; j < cover.length; j++) {
      const g = cover[j]!;
      for (const e of trans.get(g)!) if (subs[e]) subs[e]![fill[e]!++] = g;
    }
    for (let e = core + 1; e < names.length; e++) {
      const sub = subs[e];
      if (!sub || bound[e]! < found.threshold) continue;
      const q = closure(sub);
      // Prefix-preserving: q adds nothing below e that p lacks, else q is reached from another parent.
      if (q.some((x) => x < e && !inP[x])) continue;
      record(q, sub, sup[e * K]!);
      visit(q, sub, e);
    }
  };
  const all = Int32Array.from(members);
  // Single components too: a byte budget may need one when every closed set holding it is too big.
  for (let e = 0; e < names.length; e++) {
    const cover = Int32Array.from(members.filter((i) => trans.get(i)!.includes(e)));
    const sup = supportOf(cover);
    if (sup >= opts.minSupport) record([e], cover, sup);
  }
  // Every combination is itself closed and worth at least its own builds × its cost: the n-th best of those is a
  // floor for the n-th best set, so branches below it can be skipped from the start.
  found.raiseFloor(members.map((i) => weightings.reduce((m, w) => Math.max(m, w[i]!), 0) * combos[i]!.cost));
  const p0 = closure(all);
  record(p0, all, supportOf(all));
  visit(p0, all, -1);
}

/** The n best by value; once full, its threshold lets the search skip branches that cannot enter it. */
class TopN {
  private heap: { value: number; c: Candidate }[] = [];
  private floor = 0;
  constructor(private readonly n: number) {}
  get threshold(): number {
    return Math.max(this.floor, this.heap.length < this.n ? 0 : this.heap[0]!.value);
  }
  /** `values` are those of n distinct sets that will be offered: the n-th best of them bounds the final n-th best. */
  raiseFloor(values: number[]): void {
    if (values.length < this.n) return;
    // Slightly below, so that those sets themselves still enter.
    this.floor = Math.max(this.floor, [...values].sort((a, b) => b - a)[this.n - 1]! * (1 - 1e-9));
  }
  offer(value: number, c: Candidate): void {
    if (this.n <= 0) return;
    if (this.heap.length < this.n) {
      this.heap.push({ value, c });
      this.up(this.heap.length - 1);
    } else if (value > this.heap[0]!.value) {
      this.heap[0] = { value, c };
      this.down(0);
    }
  }
  values(): Candidate[] {
    return this.heap.map((h) => h.c);
  }
  private up(i: number) {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.value <= h[i]!.value) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }
  private down(i: number) {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]!.value < h[m]!.value) m = l;
      if (r < h.length && h[r]!.value < h[m]!.value) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }
}

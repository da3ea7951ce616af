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
  combos.forEach((c, i) => byRoot.set(c.root, [...(byRoot.get(c.root) ?? []), i]));
  for (const [root, members] of byRoot) mineRoot(root, members, combos, weightings, costs, opts, found);

  const out = found.values();
  const have = new Set(out.map((c) => c.key));
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

  const support = (cover: ArrayLike<number>) => {
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
    const inP = new Set(p);
    // Occurrence deliver: the cover of p ∪ {e} for every item e past the core, in one pass over p's cover.
    const occ = new Map<number, number[]>();
    for (let j = 0; j < cover.length; j++) {
      for (const e of trans.get(cover[j]!)!) if (e > core && !inP.has(e)) (occ.get(e) ?? occ.set(e, []).get(e)!).push(cover[j]!);
    }
    for (const e of [...occ.keys()].sort((a, b) => a - b)) {
      const sub = Int32Array.from(occ.get(e)!);
      const sup = support(sub);
      if (sup < opts.minSupport) continue;
      // No superset can be worth more than all its builds sparing their whole install.
      let maxCost = 0;
      for (let j = 0; j < sub.length; j++) maxCost = Math.max(maxCost, combos[sub[j]!]!.cost);
      if (sup * maxCost < found.threshold) continue;
      const q = closure(sub);
      // Prefix-preserving: q adds nothing below e that p lacks, else q is reached from another parent.
      if (q.some((x) => x < e && !inP.has(x))) continue;
      record(q, sub, sup);
      visit(q, sub, e);
    }
  };
  const all = Int32Array.from(members);
  const p0 = closure(all);
  record(p0, all, support(all));
  visit(p0, all, -1);
}

/** The n best by value; once full, its threshold lets the search skip branches that cannot enter it. */
class TopN {
  private heap: { value: number; c: Candidate }[] = [];
  constructor(private readonly n: number) {}
  get threshold(): number {
    return this.heap.length < this.n ? 0 : this.heap[0]!.value;
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

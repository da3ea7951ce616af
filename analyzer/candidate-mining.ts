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
 * value under their elementwise maximum (for recency decays: under any of them) ranks among the best. `extra`: sets that must be candidates whatever their support (the
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
  // A set's support under the best of the weightings is at most its support under their elementwise maximum, and equal
  // to it when one weighting is the largest for every combination — as for recency decays of one history, where the
  // longest memory weighs every build most. So the search needs one weighting, not one per half-life.
  const top = new Float64Array(combos.length);
  for (const wk of weightings) for (let g = 0; g < top.length; g++) if (wk[g]! > top[g]!) top[g] = wk[g]!;
  for (const [root, members] of byRoot) mineRoot(root, members, combos, top, costs, opts, found);

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
  weight: Float64Array,
  costs: Costs,
  opts: MiningOptions,
  found: TopN,
): void {
  // Items of this root as small integers, in key order. Transactions are numbered 0..m-1 here (`members` maps them
  // back to combinations) and kept as one flat array of sorted item numbers with offsets, beside their weights: the
  // search below touches nothing else.
  const names = [...new Set(members.flatMap((i) => combos[i]!.components))].sort();
  const itemOf = new Map(names.map((k, i) => [k, i]));
  const N = names.length;
  const m = members.length;
  const itemCost = Float64Array.from(names, (k) => costs.get(k) ?? 0);
  const off = new Int32Array(m + 1);
  members.forEach((g, j) => (off[j + 1] = off[j]! + combos[g]!.components.length));
  const items = new Int32Array(off[m]!);
  members.forEach((g, j) => items.set(Int32Array.from(combos[g]!.components, (k) => itemOf.get(k)!).sort(), off[j]!));
  const w = Float64Array.from(members, (g) => weight[g]!);
  const wc = Float64Array.from(members, (g) => weight[g]! * combos[g]!.cost);
  const supportOf = (cover: Int32Array) => {
    let s = 0;
    for (let x = 0; x < cover.length; x++) s += w[cover[x]!]!;
    return s;
  };
  const record = (set: ArrayLike<number>, cover: Int32Array, sup: number) => {
    if (set.length === 0) return;
    let cost = 0;
    for (let x = 0; x < set.length; x++) cost += itemCost[set[x]!]!;
    if (cost < opts.minTemplateSeconds) return;
    // Most sets never enter the n best: the cover is copied (as combination indices) only for those that do.
    if (!found.wouldKeep(sup * cost)) return;
    const components = Array.from(set, (e) => names[e]!);
    const global = new Int32Array(cover.length);
    for (let x = 0; x < cover.length; x++) global[x] = members[cover[x]!]!;
    found.offer(sup * cost, { root, components, key: setKey(root, components), cost, cover: global });
  };

  // Scratch arrays per search depth, reused by every node at that depth (a node's children sit one level deeper).
  interface Level {
    n: Int32Array;
    sup: Float64Array;
    reach: Float64Array;
    inQ: Uint8Array;
    start: Int32Array;
    fill: Int32Array;
    /** The children's covers, one after another. */
    subs: Int32Array;
  }
  const levels: Level[] = [];
  const level = (d: number): Level =>
    (levels[d] ??= { n: new Int32Array(N), sup: new Float64Array(N), reach: new Float64Array(N), inQ: new Uint8Array(N), start: new Int32Array(N), fill: new Int32Array(N), subs: new Int32Array(64) });

  /**
   * The closed set of `cover` (the transactions holding p ∪ {e}, p closed, e its last extension), if its closure adds
   * nothing below e that p lacks (LCM's prefix-preserving test: otherwise it is reached from another parent); then its
   * own extensions. One pass over the cover counts every item (for the closure) and, past e, its support and reach
   * (for the extensions); a second one hands each extension its cover.
   */
  const visit = (depth: number, inP: Uint8Array, e: number, cover: Int32Array, support: number): void => {
    const L = level(depth);
    const { n, sup, reach, inQ, start, fill } = L;
    n.fill(0);
    sup.fill(0);
    // Σ weight × the transaction's whole cost: no set inside those transactions is worth more.
    reach.fill(0);
    for (let x = 0; x < cover.length; x++) {
      const j = cover[x]!;
      const wj = w[j]!;
      const rj = wc[j]!;
      for (let y = off[j]!; y < off[j + 1]!; y++) {
        const i = items[y]!;
        n[i]!++;
        if (i <= e) continue;
        sup[i]! += wj;
        reach[i]! += rj;
      }
    }
    const q: number[] = [];
    inQ.fill(0);
    for (let i = 0; i < N; i++) {
      if (n[i] !== cover.length) continue;
      if (i < e && !inP[i]) return;
      q.push(i);
      inQ[i] = 1;
    }
    record(q, cover, support);
    // Extensions worth following: enough support, and a reach that can enter the n best.
    let total = 0;
    start.fill(-1);
    for (let i = e + 1; i < N; i++) {
      if (n[i] === 0 || inQ[i] || sup[i]! < opts.minSupport || reach[i]! < found.threshold) continue;
      start[i] = total;
      total += n[i]!;
    }
    if (total === 0) return;
    if (L.subs.length < total) L.subs = new Int32Array(Math.max(total, 2 * L.subs.length));
    const subs = L.subs;
    fill.fill(0);
    for (let x = 0; x < cover.length; x++) {
      const j = cover[x]!;
      for (let y = off[j]!; y < off[j + 1]!; y++) {
        const i = items[y]!;
        if (start[i]! >= 0) subs[start[i]! + fill[i]!++] = j;
      }
    }
    // The n best fill up while siblings are searched: a branch may fall below them before its turn.
    for (let i = e + 1; i < N; i++) {
      if (start[i]! < 0 || reach[i]! < found.threshold) continue;
      visit(depth + 1, inQ, i, subs.subarray(start[i]!, start[i]! + n[i]!), sup[i]!);
    }
  };

  // Single components too: a byte budget may need one when every closed set holding it is too big.
  const byItem: number[][] = names.map(() => []);
  for (let j = 0; j < m; j++) for (let y = off[j]!; y < off[j + 1]!; y++) byItem[items[y]!]!.push(j);
  byItem.forEach((js, i) => {
    const cover = Int32Array.from(js);
    const sup = supportOf(cover);
    if (sup >= opts.minSupport) record([i], cover, sup);
  });
  // Every combination is itself closed and worth at least its own builds × its cost: the n-th best of those is a
  // floor for the n-th best set, so branches below it can be skipped from the start.
  found.raiseFloor(members.map((g) => weight[g]! * combos[g]!.cost));
  // The search starts from the closure of all transactions (usually empty); e = −1: nothing lies below it.
  const all = Int32Array.from({ length: m }, (_, j) => j);
  visit(0, new Uint8Array(N), -1, all, supportOf(all));
}

/** The n best by value; once full, its threshold lets the search skip branches that cannot enter it. */
class TopN {
  private heap: { value: number; c: Candidate }[] = [];
  private floor = 0;
  constructor(private readonly n: number) {}
  /** Whether a set of this value would enter now. */
  wouldKeep(value: number): boolean {
    return this.n > 0 && (this.heap.length < this.n || value > this.heap[0]!.value);
  }
  get threshold(): number {
    // Keeping none (n = 0): no branch is worth searching.
    if (this.n <= 0) return Infinity;
    return Math.max(this.floor, this.heap.length < this.n ? 0 : this.heap[0]!.value);
  }
  /** `values` are those of n distinct sets that will be offered: the n-th best of them bounds the final n-th best. */
  raiseFloor(values: number[]): void {
    if (this.n <= 0 || values.length < this.n) return;
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

// Chooses the template set: maximize the recency-weighted install seconds the templates would have spared past builds
// minus what they cost (building, nested FROM a smaller chosen template where one is, and storage), within a budget.
// Lazy greedy (CELF: a candidate's gain is recomputed only when it reaches the top of the queue, against each
// combination's best saving so far), then local search that swaps one template for another, scored incrementally.
// Greedy carries no (1 − 1/e) guarantee here: a template's cost depends on which others are chosen (nesting), so the
// objective is not submodular; the bench measures it against a proven ceiling instead. Pure.
import { estimatedBytes, isSubset, type Costs, type HistoryBuild, type ScoreOptions } from '../core/templates/savings.ts';
import { mineCandidates, type Candidate } from './candidate-mining.ts';
import { aggregateDemand, weightsAt, type Combination } from './demand.ts';
import { localSearch } from './template-swaps.ts';

export interface SelectOptions extends Omit<ScoreOptions, 'now' | 'halfLifeSeconds'> {
  maxTemplates: number;
  /** Total estimated bytes the templates may take; absent = no byte budget. */
  maxBytes?: number;
  /** A candidate must have been wanted by at least this much recency-weighted build count. */
  minSupport: number;
  /** Sets that install faster than this are not worth a base image of their own. */
  minTemplateSeconds: number;
  /** setKeys of templates that exist and are current: their build cost is already paid. */
  built?: ReadonlySet<string>;
  /**
   * Per built template, what dropping it is charged: its rebuild, when recent demand says it would be wanted back
   * (hysteresis: a template is not dropped and re-added unless that pays for the rebuild).
   */
  keepBonus?: ReadonlyMap<string, number>;
  /**
   * setKeys of built templates the set must keep whatever they score (hysteresis between runs: a template is dropped
   * only once analyses have wanted it dropped for a while, see analysis.ts). They take their share of the budget first.
   */
  pinned?: ReadonlySet<string>;
  /** Improving swaps tried after greedy, at most this many times the budget (0 = plain greedy). */
  swapPasses?: number;
  /** How many of the best unchosen candidates each swap round considers. */
  swapCandidates?: number;
  /** Candidates kept from mining, the most valuable first. */
  maxCandidates?: number;
  /** Whether a template is built FROM a smaller chosen one (false: every build installs all of its set). */
  nested?: boolean;
}

export interface ChosenTemplate {
  root: string;
  components: string[];
  key: string;
  /** setKey of the chosen template it would be built FROM, if nested. */
  parent?: string;
  /** Recency-weighted number of past builds it would have served (as their best template). */
  weightedHits: number;
  /** Recency-weighted install seconds it would have saved them. */
  weightedSeconds: number;
  /** Its cost in the objective (build from parent, unless already built, plus storage). */
  cost: number;
  installSeconds: number;
  /**
   * Kept only by the hold between runs (analysis.ts): every analysis since `since` (analysis time, seconds) has wanted
   * it dropped, keeping it has lost `lostSeconds` of install seconds so far, and it goes once they reach its rebuild.
   */
  held?: { since: number; lostSeconds: number; rebuildSeconds: number };
}

export interface Selection {
  templates: ChosenTemplate[];
  /** Weighted savings minus template costs. */
  objective: number;
  /** Weighted install seconds of the whole history (what no templates would spend). */
  weightedTotalSeconds: number;
  candidates: number;
}

/** A candidate as the selection scores it. */
export interface Scored extends Candidate {
  bytes: number;
  built: boolean;
  /** Storage, minus the keep bonus when built (both per analysis horizon). */
  fixedCost: number;
  set: ReadonlySet<string>;
  nested: boolean;
}

/** The selection's problem: candidates over weighted combinations. */
export interface Problem {
  cands: Scored[];
  weights: Float64Array;
  combos: readonly Combination[];
  opts: SelectOptions;
  /** Every candidate's support under `weights`, when already known (see `supports`). */
  support?: Float64Array;
}

/**
 * Every candidate's support (Σ weight over its cover) under each of several weightings, in one pass over the covers:
 * a combination's weights sit side by side, so each cover entry is read once for all of them.
 */
export function supports(cands: readonly Candidate[], weightings: readonly Float64Array[]): Float64Array[] {
  const V = weightings.length;
  const n = weightings[0]?.length ?? 0;
  const side = new Float64Array(n * V);
  weightings.forEach((w, v) => {
    for (let g = 0; g < n; g++) side[g * V + v] = w[g]!;
  });
  const out = weightings.map(() => new Float64Array(cands.length));
  const sum = new Float64Array(V);
  cands.forEach((c, i) => {
    sum.fill(0);
    for (let j = 0; j < c.cover.length; j++) {
      const base = c.cover[j]! * V;
      for (let v = 0; v < V; v++) sum[v]! += side[base + v]!;
    }
    for (let v = 0; v < V; v++) out[v]![i] = sum[v]!;
  });
  return out;
}

export function scoreCandidates(cands: readonly Candidate[], opts: SelectOptions): Scored[] {
  return cands.map((c) => {
    const bytes = estimatedBytes(c.components, opts);
    const built = opts.built?.has(c.key) ?? false;
    const storage = (bytes / 1024 ** 3) * opts.storageSecondsPerGiB;
    return { ...c, bytes, built, fixedCost: storage - (built ? (opts.keepBonus?.get(c.key) ?? 0) : 0), set: new Set(c.components), nested: opts.nested ?? true };
  });
}

/** What building `t` costs next to the set `s` (nothing if built; else from its largest strict subset in `s`). */
export function buildCost(t: Scored, s: readonly Scored[]): number {
  if (t.built) return 0;
  if (!t.nested) return t.cost;
  let parent = 0;
  for (const p of s) {
    if (p !== t && p.root === t.root && p.components.length < t.components.length && p.cost > parent && isSubset(p.components, t.set)) parent = p.cost;
  }
  return t.cost - parent;
}

export const setCost = (s: readonly Scored[]) => s.reduce((n, t) => n + t.fixedCost + buildCost(t, s), 0);

const fits = (p: Problem, bytes: number, count: number) => count <= p.opts.maxTemplates && (p.opts.maxBytes === undefined || bytes <= p.opts.maxBytes);

/** Lazy greedy, then swaps; returns the chosen candidates (indices into p.cands). */
export function solve(p: Problem): number[] {
  const { cands, weights } = p;
  const best = new Float64Array(weights.length);
  const chosen: Scored[] = [];
  const picked: number[] = [];
  // Per chosen template, the install seconds of its parent within the chosen set (what its build is spared).
  const parentCost: number[] = [];
  let bytes = 0;

  /** What adding c changes in the set's cost: its own, and the builds of chosen supersets it would be a better parent of. */
  const addedCost = (c: Scored) => {
    let parent = 0;
    let spared = 0;
    for (let x = 0; x < chosen.length; x++) {
      const t = chosen[x]!;
      if (t.root !== c.root) continue;
      if (t.components.length < c.components.length) {
        if (t.cost > parent && isSubset(t.components, c.set)) parent = t.cost;
      } else if (t.components.length > c.components.length && !t.built && t.nested && c.cost > parentCost[x]! && isSubset(c.components, t.set)) {
        spared += c.cost - parentCost[x]!;
      }
    }
    const build = c.built ? 0 : c.nested ? c.cost - parent : c.cost;
    return c.fixedCost + build - spared;
  };
  const gain = (c: Scored) => {
    let g = 0;
    const cover = c.cover;
    for (let j = 0; j < cover.length; j++) {
      const i = cover[j]!;
      const b = best[i]!;
      if (c.cost > b) g += weights[i]! * (c.cost - b);
    }
    return g - addedCost(c);
  };

  const take = (index: number) => {
    const c = cands[index]!;
    for (let x = 0; x < chosen.length; x++) {
      const t = chosen[x]!;
      if (t.root === c.root && t.components.length > c.components.length && c.cost > parentCost[x]! && isSubset(c.components, t.set)) parentCost[x] = c.cost;
    }
    let parent = 0;
    for (const t of chosen) if (t.root === c.root && t.components.length < c.components.length && t.cost > parent && isSubset(t.components, c.set)) parent = t.cost;
    picked.push(index);
    chosen.push(c);
    parentCost.push(parent);
    bytes += c.bytes;
    for (const i of c.cover) if (c.cost > best[i]!) best[i] = c.cost;
  };
  const pinned = pinnedIndices(p);
  for (const i of pinned) take(i);

  // Max-heap on the last computed gain; `round` says against how many chosen templates it was computed. Before any
  // free choice, a candidate's first gain is its support × its install seconds, less what it costs alone (recomputed
  // against the pinned ones when it reaches the top).
  const heap = new MaxHeap();
  cands.forEach((c, i) => {
    if (pinned.has(i)) return;
    let support = p.support?.[i] ?? 0;
    if (!p.support) for (let j = 0; j < c.cover.length; j++) support += weights[c.cover[j]!]!;
    // Thresholds apply to the costs as they stand now (measured where measured), built templates included.
    if (c.cost < p.opts.minTemplateSeconds || (support + 1e-9 < p.opts.minSupport && !c.built)) return;
    heap.push(support * c.cost - addedCost(c), i, pinned.size > 0 ? -1 : 0);
  });
  while (picked.length < p.opts.maxTemplates && heap.size > 0) {
    const top = heap.pop()!;
    const c = cands[top.index]!;
    if (!fits(p, bytes + c.bytes, picked.length + 1)) continue;
    if (top.round !== picked.length) {
      heap.push(gain(c), top.index, picked.length);
      continue;
    }
    if (top.key <= 1e-9) break;
    take(top.index);
  }
  if ((p.opts.swapPasses ?? 2) === 0) return picked;
  // The best unchosen candidates by their last known gain are the ones worth trying in a swap.
  const pool: number[] = [];
  while (pool.length < (p.opts.swapCandidates ?? 100) && heap.size > 0) pool.push(heap.pop()!.index);
  return localSearch(p, picked, pool, pinned);
}

/** The candidates the set must keep (p.opts.pinned), as indices; empty when they do not fit the budget together. */
export function pinnedIndices(p: Problem): Set<number> {
  const keys = p.opts.pinned;
  if (!keys || keys.size === 0) return new Set();
  const out = new Set<number>();
  let bytes = 0;
  p.cands.forEach((c, i) => {
    if (keys.has(c.key) && c.built) {
      out.add(i);
      bytes += c.bytes;
    }
  });
  // A budget lowered since they were built cannot hold them all: then the selection decides alone.
  return fits(p, bytes, out.size) ? out : new Set();
}

/** Weighted install seconds a set spares: each combination gets its best template. */
export function savings(p: Pick<Problem, 'cands' | 'weights'>, set: readonly number[]): number {
  const best = new Float64Array(p.weights.length);
  for (const i of set) for (const g of p.cands[i]!.cover) if (p.cands[i]!.cost > best[g]!) best[g] = p.cands[i]!.cost;
  let saved = 0;
  for (let g = 0; g < best.length; g++) saved += p.weights[g]! * best[g]!;
  return saved;
}

export const objective = (p: Problem, set: readonly number[]) => savings(p, set) - setCost(set.map((i) => p.cands[i]!));

/** The old entry point, kept for callers with a plain history: one weighting, half-life `halfLifeSeconds` at `now`. */
export function selectTemplates(
  history: readonly HistoryBuild[],
  costs: Costs,
  opts: SelectOptions & { now: number; halfLifeSeconds: number },
): Selection {
  const demand = aggregateDemand(history, costs);
  const weights = weightsAt(demand, opts.now + 1e-6, opts.halfLifeSeconds);
  return selectOnWeights(demand.combos, weights, costs, opts);
}

export function selectOnWeights(combos: readonly Combination[], weights: Float64Array, costs: Costs, opts: SelectOptions, mined?: readonly Candidate[]): Selection {
  const cands = mined ?? mineCandidates(combos, [weights], costs, { ...opts, maxCandidates: opts.maxCandidates ?? 4000 }, builtSets(opts));
  const p: Problem = { cands: scoreCandidates(cands, opts), weights, combos, opts };
  const set = solve(p);
  return {
    templates: describe(p, set),
    objective: objective(p, set),
    weightedTotalSeconds: combos.reduce((n, c, i) => n + weights[i]! * c.cost, 0),
    candidates: cands.length,
  };
}

/** The built templates as sets, so that mining always offers them (keeping one may pay even when rarely wanted). */
export function builtSets(opts: Pick<SelectOptions, 'built'>): { root: string; components: string[] }[] {
  return [...(opts.built ?? [])].map((key) => {
    const [root, list] = key.split('|') as [string, string];
    return { root, components: list ? list.split('+') : [] };
  });
}

/** Why each template is in the set: the builds it would serve as their best template, and what it costs. */
function describe(p: Problem, set: readonly number[]): ChosenTemplate[] {
  const chosen = set.map((i) => p.cands[i]!);
  const bestOf = new Int32Array(p.weights.length).fill(-1);
  chosen.forEach((c, x) => {
    for (const g of c.cover) if (bestOf[g] === -1 || c.cost > chosen[bestOf[g]!]!.cost) bestOf[g] = x;
  });
  const hits = chosen.map(() => ({ hits: 0, seconds: 0 }));
  bestOf.forEach((x, g) => {
    if (x < 0) return;
    hits[x]!.hits += p.weights[g]!;
    hits[x]!.seconds += p.weights[g]! * chosen[x]!.cost;
  });
  return chosen.map((c, x) => {
    const parent = chosen
      .filter((o) => o !== c && o.root === c.root && o.components.length < c.components.length && isSubset(o.components, c.set))
      .sort((a, b) => b.cost - a.cost)[0];
    return {
      root: c.root,
      components: c.components,
      key: c.key,
      ...(parent ? { parent: parent.key } : {}),
      weightedHits: hits[x]!.hits,
      weightedSeconds: hits[x]!.seconds,
      cost: c.fixedCost + buildCost(c, chosen),
      installSeconds: c.cost,
    };
  });
}

class MaxHeap {
  private keys: number[] = [];
  private items: { index: number; round: number }[] = [];
  get size() {
    return this.keys.length;
  }
  push(key: number, index: number, round: number) {
    const k = this.keys;
    const it = this.items;
    k.push(key);
    it.push({ index, round });
    let i = k.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (k[p]! >= k[i]!) break;
      [k[p], k[i]] = [k[i]!, k[p]!];
      [it[p], it[i]] = [it[i]!, it[p]!];
      i = p;
    }
  }
  pop(): { key: number; index: number; round: number } | undefined {
    const k = this.keys;
    const it = this.items;
    if (k.length === 0) return undefined;
    const out = { key: k[0]!, ...it[0]! };
    const lk = k.pop()!;
    const li = it.pop()!;
    if (k.length > 0) {
      k[0] = lk;
      it[0] = li;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < k.length && k[l]! > k[m]!) m = l;
        if (r < k.length && k[r]! > k[m]!) m = r;
        if (m === i) break;
        [k[m], k[i]] = [k[i]!, k[m]!];
        [it[m], it[i]] = [it[i]!, it[m]!];
        i = m;
      }
    }
    return out;
  }
}

// Chooses the template set: maximize the recency-weighted install seconds saved over history minus what the
// templates cost (build, nested where possible, and storage), within a budget. Greedy on marginal gain (a
// facility-location objective, so greedy is within 1 − 1/e of optimal), then swap-based local search, which
// recovers cases where an early greedy pick blocks a better pair. Pure.
import {
  costOf,
  estimatedBytes,
  isSubset,
  parentWithin,
  recencyWeight,
  setKey,
  templateCost,
  type Costs,
  type HistoryBuild,
  type ScoreOptions,
  type TemplateSet,
} from '../core/templates/savings.ts';

export interface SelectOptions extends ScoreOptions {
  maxTemplates: number;
  /** Total estimated bytes the templates may take; absent = no byte budget. */
  maxBytes?: number;
  /** A candidate must have been wanted by at least this much recency-weighted build count. */
  minSupport: number;
  /** Sets that install faster than this are not worth a base image of their own. */
  minTemplateSeconds: number;
  /** setKeys of templates that exist and are current: their build cost is already paid. */
  built?: ReadonlySet<string>;
  /** Local-search passes after greedy (0 = plain greedy). */
  swapPasses?: number;
}

export interface ChosenTemplate extends TemplateSet {
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
}

export interface Selection {
  templates: ChosenTemplate[];
  /** Weighted savings minus template costs. */
  objective: number;
  /** Weighted install seconds of the whole history (what no templates would spend). */
  weightedTotalSeconds: number;
  candidates: number;
}

interface Group {
  root: string;
  components: Set<string>;
  weight: number;
  cost: number;
}

interface Candidate extends TemplateSet {
  key: string;
  cost: number;
  bytes: number;
  /** Indices of the groups that contain it. */
  groups: number[];
  support: number;
}

/** Every non-empty subset of a small set; for large sets, the sets with up to two members left out, and singletons. */
function subsetsOf(items: string[]): string[][] {
  const n = items.length;
  if (n <= 10) {
    const out: string[][] = [];
    for (let mask = 1; mask < 1 << n; mask++) out.push(items.filter((_, i) => mask & (1 << i)));
    return out;
  }
  const out: string[][] = [items, ...items.map((k) => [k])];
  for (let i = 0; i < n; i++) {
    out.push(items.filter((_, x) => x !== i));
    for (let j = i + 1; j < n; j++) out.push(items.filter((_, x) => x !== i && x !== j));
  }
  return out;
}

function groupHistory(history: readonly HistoryBuild[], costs: Costs, opts: SelectOptions): Group[] {
  const groups = new Map<string, Group>();
  for (const b of history) {
    const key = setKey(b.root, b.components);
    const w = recencyWeight(b.t, opts);
    const g = groups.get(key);
    if (g) g.weight += w;
    else groups.set(key, { root: b.root, components: new Set(b.components), weight: w, cost: costOf(b.components, costs) });
  }
  return [...groups.values()];
}

function candidatesOf(groups: Group[], costs: Costs, opts: SelectOptions): Candidate[] {
  const byKey = new Map<string, Candidate>();
  groups.forEach((g) => {
    for (const subset of subsetsOf([...g.components].sort())) {
      const key = setKey(g.root, subset);
      if (byKey.has(key)) continue;
      const cost = costOf(subset, costs);
      if (cost < opts.minTemplateSeconds) continue;
      byKey.set(key, { root: g.root, components: subset, key, cost, bytes: estimatedBytes(subset, opts), groups: [], support: 0 });
    }
  });
  for (const c of byKey.values()) {
    groups.forEach((g, i) => {
      if (g.root === c.root && isSubset(c.components, g.components)) {
        c.groups.push(i);
        c.support += g.weight;
      }
    });
  }
  return [...byKey.values()].filter((c) => c.support >= opts.minSupport);
}

/** The objective for a chosen set, with each group's best saving. */
function evaluate(set: Candidate[], groups: Group[], costs: Costs, opts: SelectOptions): number {
  const best = new Float64Array(groups.length);
  for (const c of set) for (const i of c.groups) if (c.cost > best[i]!) best[i] = c.cost;
  let savings = 0;
  groups.forEach((g, i) => (savings += g.weight * best[i]!));
  return savings - setCost(set, costs, opts);
}

function setCost(set: Candidate[], costs: Costs, opts: SelectOptions): number {
  let total = 0;
  for (const c of set) {
    const storageOnly = opts.built?.has(c.key);
    total += storageOnly
      ? (c.bytes / 1024 ** 3) * opts.storageSecondsPerGiB
      : templateCost(c, set.filter((x) => x !== c), costs, opts);
  }
  return total;
}

const bytesOf = (set: Candidate[]) => set.reduce((n, c) => n + c.bytes, 0);
const fits = (set: Candidate[], opts: SelectOptions) =>
  set.length <= opts.maxTemplates && (opts.maxBytes === undefined || bytesOf(set) <= opts.maxBytes);

export function selectTemplates(history: readonly HistoryBuild[], costs: Costs, opts: SelectOptions): Selection {
  const groups = groupHistory(history, costs, opts);
  const candidates = candidatesOf(groups, costs, opts);
  let chosen: Candidate[] = [];
  let value = 0;

  // Greedy: add the candidate with the largest marginal gain while it is positive and fits the budget.
  while (chosen.length < opts.maxTemplates) {
    let bestGain = 1e-9;
    let bestCandidate: Candidate | undefined;
    for (const c of candidates) {
      if (chosen.includes(c)) continue;
      const next = [...chosen, c];
      if (!fits(next, opts)) continue;
      const gain = evaluate(next, groups, costs, opts) - value;
      if (gain > bestGain) {
        bestGain = gain;
        bestCandidate = c;
      }
    }
    if (!bestCandidate) break;
    chosen = [...chosen, bestCandidate];
    value += bestGain;
  }

  // Local search: swap one chosen template for an unchosen one, or drop one, while that improves the objective.
  for (let pass = 0; pass < (opts.swapPasses ?? 2); pass++) {
    let improved = false;
    for (let i = 0; i < chosen.length; i++) {
      const without = chosen.filter((_, x) => x !== i);
      let bestSet: Candidate[] | undefined;
      let bestValue = evaluate(without, groups, costs, opts);
      if (bestValue <= value + 1e-9) bestValue = value + 1e-9;
      else bestSet = without;
      for (const c of candidates) {
        if (chosen.includes(c)) continue;
        const next = [...without, c];
        if (!fits(next, opts)) continue;
        const v = evaluate(next, groups, costs, opts);
        if (v > bestValue) {
          bestValue = v;
          bestSet = next;
        }
      }
      if (bestSet) {
        chosen = bestSet;
        value = bestValue;
        improved = true;
      }
    }
    if (!improved) break;
  }

  return {
    templates: describe(chosen, groups, costs, opts),
    objective: evaluate(chosen, groups, costs, opts),
    weightedTotalSeconds: groups.reduce((n, g) => n + g.weight * g.cost, 0),
    candidates: candidates.length,
  };
}

/** Why each template is in the set: the builds it would serve as their best template, and what it costs. */
function describe(chosen: Candidate[], groups: Group[], costs: Costs, opts: SelectOptions): ChosenTemplate[] {
  const hits = new Map<Candidate, { hits: number; seconds: number }>(chosen.map((c) => [c, { hits: 0, seconds: 0 }]));
  groups.forEach((g, i) => {
    let best: Candidate | undefined;
    for (const c of chosen) if (c.groups.includes(i) && c.cost > (best?.cost ?? 0)) best = c;
    if (best) {
      const h = hits.get(best)!;
      h.hits += g.weight;
      h.seconds += g.weight * best.cost;
    }
  });
  return chosen.map((c) => {
    const others = chosen.filter((x) => x !== c);
    const parent = parentWithin(c, others, costs);
    return {
      root: c.root,
      components: c.components,
      key: c.key,
      ...(parent ? { parent: parent.key } : {}),
      weightedHits: hits.get(c)!.hits,
      weightedSeconds: hits.get(c)!.seconds,
      cost: opts.built?.has(c.key) ? (c.bytes / 1024 ** 3) * opts.storageSecondsPerGiB : templateCost(c, others, costs, opts),
      installSeconds: c.cost,
    };
  });
}

// One analysis, as a pure function of the demand and of what the previous analysis left (`previous`): choose how fast
// to forget (among several recency weightings, the one whose choices would have served the last hours best, the
// previous one unless another is clearly better), then decide the templates under that weighting, with hysteresis for
// the ones that exist (a rebuild charge within a run, a hold between runs). Other decisions made from the same demand (which component layers to prebuild,
// which combinations to pre-verify, once images compose) belong beside `templates` in `Analysis`, under the same
// chosen weighting and candidates.
import type { Costs } from '../core/templates/savings.ts';
import { mineCandidates } from './candidate-mining.ts';
import { countsBetween, weightsAt, type Demand } from './demand.ts';
import { builtSets, savings, scoreCandidates, selectOnWeights, solve, supports, type Selection, type SelectOptions } from './template-selector.ts';

export interface AnalysisOptions extends SelectOptions {
  /** Analysis time (seconds, the demand's epoch). */
  now: number;
  /** History older than this does not count. */
  windowSeconds: number;
  /** The recency weightings to choose among, as half-lives in seconds. */
  halfLives: readonly number[];
  /** The half-life used while history is too short to compare them. */
  defaultHalfLife: number;
  /**
   * Each weighting is scored on the last `validationWindows` windows of `validationSeconds`: the templates it would
   * have chosen at the start of each, by the install seconds they would have spared the builds of that window; a
   * window `j` back counts `validationDiscount^j`.
   */
  validationSeconds: number;
  validationWindows: number;
  validationDiscount: number;
  /** A built template wanted by a build this recently is charged its rebuild if the selection drops it. */
  hysteresisSeconds: number;
  /**
   * The previous analysis's half-life is kept unless another weighting's validation score beats its score by more
   * than this share of it (0: the best score always decides). Scores of neighbouring half-lives differ by a few
   * percent from hour to hour; each switch reshuffles the set.
   */
  halfLifeMargin?: number;
  /**
   * A built template the selection would drop is kept until every analysis over this many seconds has wanted it
   * dropped (0: dropped at the first). One analysis preferring another set is often noise an hour later.
   */
  dropAfterSeconds?: number;
  /** What the previous analysis left (the service reads it from the last analyzer run; absent: the first run). */
  previous?: AnalysisState;
}

/** What one analysis hands the next: the hysteresis between runs needs nothing else. */
export interface AnalysisState {
  /** The half-life chosen (seconds). */
  halfLife?: number;
  /** Per built template (setKey) the selection wanted dropped but the hold kept: since when (analysis time, seconds). */
  losingSince?: Readonly<Record<string, number>>;
}

export interface Analysis {
  templates: Selection;
  /** The half-life chosen, and every weighting's validation score (null: not enough history to compare). */
  halfLife: number;
  scores: { halfLife: number; score: number }[] | null;
  /** Built templates whose drop would be charged their rebuild. */
  keepBonus: Record<string, number>;
  /** Built templates kept only by the hold (the selection alone would drop them): since when they have been losing. */
  losingSince: Record<string, number>;
}

export function analyzeDemand(demand: Demand, costs: Costs, opts: AnalysisOptions): Analysis {
  const { combos } = demand;
  const now = (h: number) => weightsAt(demand, opts.now, h, opts.windowSeconds);
  const weightings = opts.halfLives.map(now);
  const built = builtSets(opts);
  const cands = mineCandidates(combos, weightings, costs, { ...opts, maxCandidates: opts.maxCandidates ?? 4000 }, built);

  // Hysteresis: dropping a template that recent builds still wanted means building it again when they come back.
  const recent = countsBetween(demand, opts.now - opts.hysteresisSeconds, opts.now);
  const keepBonus = new Map<string, number>();
  for (const c of cands) if (opts.built?.has(c.key) && c.cover.some((g) => recent[g]! > 0)) keepBonus.set(c.key, c.cost);

  const scores = validate(demand, cands, opts);
  const halfLife = chooseHalfLife(scores, opts);
  const weights = weightings[opts.halfLives.indexOf(halfLife)] ?? now(halfLife);
  const free = selectOnWeights(combos, weights, costs, { ...opts, keepBonus }, cands);
  const { pinned, losingSince } = holds(free, opts);
  return {
    // Nothing held: the free choice stands. Else the held ones stay and the rest of the budget is chosen around them.
    templates: pinned.size === 0 ? free : markHeld(selectOnWeights(combos, weights, costs, { ...opts, keepBonus, pinned }, cands), losingSince),
    halfLife,
    scores,
    keepBonus: Object.fromEntries(keepBonus),
    losingSince,
  };
}

/**
 * The best-scoring half-life, unless the previous one scores within `halfLifeMargin` of it. Ties go to the longest
 * memory: it changes the set least.
 */
export function chooseHalfLife(scores: Analysis['scores'], opts: Pick<AnalysisOptions, 'defaultHalfLife' | 'halfLifeMargin' | 'previous'>): number {
  if (!scores) return opts.defaultHalfLife;
  let best = -Infinity;
  let halfLife = opts.defaultHalfLife;
  for (const s of [...scores].sort((a, b) => b.halfLife - a.halfLife)) if (s.score > best + 1e-9) [best, halfLife] = [s.score, s.halfLife];
  const margin = opts.halfLifeMargin ?? 0;
  const before = margin > 0 ? scores.find((s) => Math.abs(s.halfLife - (opts.previous?.halfLife ?? NaN)) <= 1e-6 * s.halfLife) : undefined;
  return before && best <= before.score + margin * Math.abs(before.score) + 1e-9 ? before.halfLife : halfLife;
}

/**
 * Which built templates the free selection drops but the hold keeps (losing for less than `dropAfterSeconds`), and
 * the clocks to hand on. A template the free selection keeps has no clock: losing must be uninterrupted.
 */
export function holds(free: Selection, opts: Pick<AnalysisOptions, 'built' | 'now' | 'dropAfterSeconds' | 'previous'>): { pinned: Set<string>; losingSince: Record<string, number> } {
  const hold = opts.dropAfterSeconds ?? 0;
  const kept = new Set(free.templates.map((t) => t.key));
  const losing = [...(opts.built ?? [])].filter((key) => !kept.has(key));
  const losingSince: Record<string, number> = {};
  for (const key of losing) {
    const since = Math.min(opts.previous?.losingSince?.[key] ?? opts.now, opts.now);
    if (opts.now - since < hold) losingSince[key] = since;
  }
  if (Object.keys(losingSince).length === 0) return { pinned: new Set(), losingSince };
  // Every built template not due to go is pinned, not only the held ones: otherwise the second selection could drop
  // one the free selection kept, with no hold at all.
  const pinned = new Set([...(opts.built ?? [])].filter((key) => kept.has(key) || key in losingSince));
  return { pinned, losingSince };
}

const markHeld = (s: Selection, losingSince: Record<string, number>): Selection => ({
  ...s,
  templates: s.templates.map((t) => (t.key in losingSince ? { ...t, heldSince: losingSince[t.key]! } : t)),
});

/** Every weighting's discounted savings over the last validation windows, or null while history is too short. */
function validate(demand: Demand, cands: ReturnType<typeof mineCandidates>, opts: AnalysisOptions): Analysis['scores'] {
  const V = opts.validationSeconds;
  if (opts.validationWindows <= 0 || demand.builds === 0 || demand.first > opts.now - (opts.validationWindows + 1) * V) return null;
  // Choices are scored as if nothing were built yet, by plain greedy: the point is which weighting sees demand coming.
  const vOpts: SelectOptions = { ...opts, built: new Set(), keepBonus: new Map(), pinned: new Set(), swapPasses: 0 };
  const scored = scoreCandidates(cands, vOpts);
  const windows = Array.from({ length: opts.validationWindows }, (_, j) => opts.now - (j + 1) * V);
  const held = windows.map((start) => countsBetween(demand, start, start + V, 'exposed'));
  const pairs = opts.halfLives.flatMap((halfLife) => windows.map((start, j) => ({ halfLife, j, weights: weightsAt(demand, start, halfLife, opts.windowSeconds) })));
  const support = supports(scored, pairs.map((x) => x.weights));
  const score = new Map(opts.halfLives.map((h) => [h, 0]));
  pairs.forEach(({ halfLife, j, weights }, x) => {
    const set = solve({ cands: scored, weights, support: support[x]!, combos: demand.combos, opts: vOpts });
    score.set(halfLife, score.get(halfLife)! + Math.pow(opts.validationDiscount, j) * savings({ cands: scored, weights: held[j]! }, set));
  });
  return opts.halfLives.map((halfLife) => ({ halfLife, score: score.get(halfLife)! }));
}


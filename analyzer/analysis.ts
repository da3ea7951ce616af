// One analysis, as a pure function of the demand: choose how fast to forget (among several recency weightings, the one
// whose choices would have served the last hours best), then decide the templates under that weighting, with
// hysteresis for the ones that exist. Other decisions made from the same demand (which component layers to prebuild,
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
}

export interface Analysis {
  templates: Selection;
  /** The half-life chosen, and every weighting's validation score (null: not enough history to compare). */
  halfLife: number;
  scores: { halfLife: number; score: number }[] | null;
  /** Built templates whose drop would be charged their rebuild. */
  keepBonus: Record<string, number>;
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
  let halfLife = opts.defaultHalfLife;
  if (scores) {
    // Ties go to the longest memory: it changes the set least.
    let best = -Infinity;
    for (const s of [...scores].sort((a, b) => b.halfLife - a.halfLife)) if (s.score > best + 1e-9) [best, halfLife] = [s.score, s.halfLife];
  }
  const weights = weightings[opts.halfLives.indexOf(halfLife)] ?? now(halfLife);
  return {
    templates: selectOnWeights(combos, weights, costs, { ...opts, keepBonus }, cands),
    halfLife,
    scores,
    keepBonus: Object.fromEntries(keepBonus),
  };
}

/** Every weighting's discounted savings over the last validation windows, or null while history is too short. */
function validate(demand: Demand, cands: ReturnType<typeof mineCandidates>, opts: AnalysisOptions): Analysis['scores'] {
  const V = opts.validationSeconds;
  if (opts.validationWindows <= 0 || demand.builds === 0 || demand.first > opts.now - (opts.validationWindows + 1) * V) return null;
  // Choices are scored as if nothing were built yet, by plain greedy: the point is which weighting sees demand coming.
  const vOpts: SelectOptions = { ...opts, built: new Set(), keepBonus: new Map(), swapPasses: 0 };
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


// One analysis, as a pure function of the demand and of what the previous analysis left (`previous`): choose how fast
// to forget (among several recency weightings, the one whose choices would have served the last hours best, the
// previous one unless another is clearly better), then decide the templates under that weighting, with hysteresis for
// the ones that exist (a rebuild charge within a run; between runs, a losing template is rented until what keeping it
// has lost pays for building it again). Other decisions made from the same demand (which component layers to prebuild,
// which combinations to pre-verify, once images compose) belong beside `templates` in `Analysis`, under the same
// chosen weighting and candidates.
import { costOf, estimatedBytes, type Costs, type TemplateSet } from '../core/templates/savings.ts';
import { mineCandidates } from './candidate-mining.ts';
import { countsBetween, weightsAt, type Combination, type Demand } from './demand.ts';
import { builtSets, savings, type ChosenTemplate, scoreCandidates, selectOnWeights, solve, supports, type Selection, type SelectOptions } from './template-selector.ts';

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
   * Rent or buy between runs: a built template the selection would drop is kept (rented) until the savings keeping it
   * has lost since it started losing reach this many times its rebuild (0: dropped at once). At 1 this is the ski
   * rental rule — in that model of the one decision, whatever demand does next, holding and then dropping costs at most
   * twice the better in hindsight of dropping at once and keeping — and it needs no time constant: a template losing by a lot goes at
   * the first analysis, one losing by a hair is held, and one analysis preferring another set (often noise an hour
   * later) costs little.
   */
  holdRebuilds?: number;
  /**
   * The hold applies only between runs closer than this. What keeping a template loses is charged from the previous
   * run's choice, so the first interval of a losing streak is free (that choice still kept it): between hourly runs an
   * hour goes unmeasured, between daily runs a whole day. Runs this far apart see enough builds each that one run's
   * noise is not the hold's to smooth: a template the selection wants gone goes, as without the hold.
   */
  holdWithinSeconds?: number;
  /** What the previous analysis left (the service reads it from the last analyzer run; absent: the first run). */
  previous?: AnalysisState;
}

/** What one analysis hands the next: the hysteresis between runs needs nothing else. */
export interface AnalysisState {
  /** When it ran (analysis time, seconds): the next one charges held templates for the time between. */
  at?: number;
  /** The half-life chosen (seconds). */
  halfLife?: number;
  /** The templates (setKeys) it would have chosen without the hold: the next one charges the hold what they would have spared. */
  choice?: readonly string[];
  /** Per built template (setKey) the selection wanted dropped but the hold kept. */
  held?: Readonly<Record<string, Held>>;
}

/** A template kept only by the hold: since when every analysis has wanted it dropped, what keeping it has lost. */
export type Held = NonNullable<ChosenTemplate['held']>;

export interface Analysis {
  templates: Selection;
  /** The half-life chosen, and every weighting's validation score (null: not enough history to compare). */
  halfLife: number;
  scores: { halfLife: number; score: number }[] | null;
  /** Built templates whose drop would be charged their rebuild. */
  keepBonus: Record<string, number>;
  /** The templates (setKeys) chosen without the hold between runs. */
  choice: string[];
  /** Built templates kept only by the hold (the selection alone would drop them). */
  held: Record<string, Held>;
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
  const select = (pinned?: Set<string>) => selectOnWeights(combos, weights, costs, { ...opts, keepBonus, ...(pinned ? { pinned } : {}) }, cands);
  const free = select();
  const choice = free.templates.map((t) => t.key);
  const result = { halfLife, scores, keepBonus: Object.fromEntries(keepBonus), choice };
  const kept = new Set(choice);
  const losing = [...(opts.built ?? [])].filter((key) => !kept.has(key));
  const gap = opts.previous?.at === undefined ? 0 : opts.now - opts.previous.at;
  const holding = (opts.holdRebuilds ?? 0) > 0 && gap < (opts.holdWithinSeconds ?? Infinity);
  if (losing.length === 0 || !holding) return { ...result, templates: free, held: {} };
  const rebuild = new Map(cands.filter((c) => losing.includes(c.key)).map((c) => [c.key, c.cost]));
  const held = holds(losing.map((key) => ({ key, rebuildSeconds: rebuild.get(key) ?? 0 })), rent(demand, costs, halfLife, opts), opts);
  // Nothing held: the free choice stands. Else the held ones stay and the rest of the budget is chosen around them.
  const templates = Object.keys(held).length === 0 ? free : markHeld(select(new Set([...kept, ...Object.keys(held)])), held);
  return { ...result, templates, held };
}

/**
 * The rent of the time since the last analysis, per template the hold kept through it (built, but not in that
 * analysis's free choice): the install seconds that choice would have spared the builds that came since, beyond the
 * templates that stood (built), plus the storage the kept ones took meanwhile, shared evenly among them (each held one
 * took a place the choice gave another). Both sets were decided before those builds came: no hindsight. Nothing to
 * charge on a first run.
 */
export function rent(
  demand: Demand,
  costs: Costs,
  halfLife: number,
  opts: Pick<AnalysisOptions, 'now' | 'windowSeconds' | 'built' | 'previous' | 'sizes' | 'defaultSizeBytes' | 'storageSecondsPerGiB'>,
): Map<string, number> {
  const { at, choice } = opts.previous ?? {};
  const kept = [...(opts.built ?? [])].filter((key) => !choice?.includes(key));
  if (at === undefined || choice === undefined || at >= opts.now || kept.length === 0) return new Map();
  const lately = countsBetween(demand, at, opts.now, 'exposed');
  const stood = [...(opts.built ?? [])].map(parseKey);
  const wanted = choice.map(parseKey);
  const storageRent = ((storage(stood, opts) - storage(wanted, opts)) * (opts.now - at)) / horizonSeconds(demand, halfLife, opts);
  const total = Math.max(0, spared(wanted, demand, lately, costs) - spared(stood, demand, lately, costs) + storageRent);
  return new Map(kept.map((key) => [key, total / kept.length]));
}

const parseKey = (key: string) => builtSets({ built: new Set([key]) })[0]!;

/** Install seconds a set spares the builds counted in `counts` (per combination): each gets its best template. */
function spared(set: readonly TemplateSet[], demand: Demand, counts: Float64Array, costs: Costs): number {
  let n = 0;
  demand.combos.forEach((c, g) => {
    if (counts[g]! <= 0) return;
    let best = 0;
    for (const t of set) {
      if (t.root !== c.root || !t.components.every((k) => c.components.includes(k))) continue;
      best = Math.max(best, costOf(t.components, costs));
    }
    n += counts[g]! * best;
  });
  return n;
}

/** What a set's storage is charged per analysis horizon. */
const storage = (set: readonly TemplateSet[], opts: Pick<AnalysisOptions, 'sizes' | 'defaultSizeBytes' | 'storageSecondsPerGiB'>) =>
  set.reduce((n, t) => n + (estimatedBytes(t.components, opts) / 1024 ** 3) * opts.storageSecondsPerGiB, 0);

/**
 * How many seconds of demand a weighting's weighted sums stand for: a steady stream of builds, each weighted
 * 0.5^(age / halfLife) over the window (or the history, if shorter), weighs that many seconds' worth of them.
 */
export function horizonSeconds(demand: Pick<Demand, 'first' | 'builds'>, halfLife: number, opts: Pick<AnalysisOptions, 'now' | 'windowSeconds'>): number {
  const span = Math.max(3600, Math.min(opts.windowSeconds, opts.now - (demand.builds > 0 ? demand.first : opts.now)));
  return (halfLife / Math.LN2) * (1 - Math.pow(0.5, span / halfLife));
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
 * Rent or buy: which losing built templates the hold keeps. Each adds its rent of the time since the last analysis to
 * what it lost before in the same streak, and is dropped once the total reaches `holdRebuilds` times its rebuild. A
 * template the free selection keeps is not passed in: its streak, and what it lost, end.
 */
export function holds(
  losing: readonly { key: string; rebuildSeconds: number }[],
  rent: ReadonlyMap<string, number>,
  opts: Pick<AnalysisOptions, 'now' | 'holdRebuilds' | 'previous'>,
): Record<string, Held> {
  const share = opts.holdRebuilds ?? 0;
  const held: Record<string, Held> = {};
  for (const { key, rebuildSeconds } of losing) {
    const before = opts.previous?.held?.[key];
    const h = { since: Math.min(before?.since ?? opts.now, opts.now), lostSeconds: (before?.lostSeconds ?? 0) + (rent.get(key) ?? 0), rebuildSeconds };
    if (h.lostSeconds < share * rebuildSeconds) held[key] = h;
  }
  return held;
}

const markHeld = (s: Selection, held: Record<string, Held>): Selection => ({
  ...s,
  templates: s.templates.map((t) => (t.key in held ? { ...t, held: held[t.key]! } : t)),
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


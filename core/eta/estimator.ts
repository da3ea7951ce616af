// How long a build will take, from what this installation measured (eta-knowledge.ts): each step the build's route
// implies is a distribution (an install step is a mixture: the layer cache may answer it, and once one step installs,
// every later one does; a pull happens only on a builder without the template; a push moves the bytes of the layers
// that are new), and the build's estimate is the median and the 10th–90th percentiles of their sum, from a fixed
// number of seeded draws (the same history gives the same answer). The queue: a build at position p waits for p
// departures at the queue's measured drain rate (a gamma). Pure.
import type { Estimate, EstimatedStep, RunEstimate, RunRequest } from './estimate-types.ts';
import { baseKey, prefixKey } from './estimate-types.ts';
import { catalogModel, chance, defaultLayerBytes, type DurationModel, type Knowledge, type RateModel } from './eta-knowledge.ts';
import { leftOf } from './progress.ts';
import { gammaQuantile, normal, seededRandom } from './robust-stats.ts';

const DRAWS = 400;
const LOW = 0.1;
const HIGH = 0.9;

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]!;
const rateSeconds = (m: RateModel, bytes: number) => m.a + m.b * bytes;

/** One step of the route, able to draw its seconds (and, for installs, whether it came from the cache). */
interface StepPlan {
  step: EstimatedStep;
  draw(rand: () => number, state: DrawState): number;
}

interface DrawState {
  /** Every install step so far came from the cache. */
  cachedSoFar: boolean;
  /** Bytes of new layers this draw will push. */
  pushBytes: number;
}

const drawDuration = (m: DurationModel, rand: () => number) => m.median * Math.exp(m.sigma * normal(rand));
const drawRate = (m: RateModel, bytes: number, rand: () => number) => rateSeconds(m, bytes) * Math.exp(m.sigma * normal(rand));

function installSteps(k: Knowledge, req: RunRequest, binaryBytes: number): StepPlan[] {
  const covered = new Set(req.covered);
  const base = baseKey(req);
  const before: string[] = [];
  const plans: StepPlan[] = [];
  let likelyCachedSoFar = true;
  for (const key of req.components.filter((c) => !covered.has(c))) {
    const cold = catalogModel(k, key);
    const p = chance(k.cacheShare.get(`${prefixKey(base, before)}>${key}`));
    before.push(key);
    const likelyCached: boolean = likelyCachedSoFar && p >= 0.5;
    likelyCachedSoFar = likelyCached;
    const bytes = defaultLayerBytes(k, key);
    plans.push({
      step: {
        kind: likelyCached ? 'cache' : 'install',
        component: key,
        seconds: likelyCached ? k.cached.median : cold.median,
        coldSeconds: cold.median,
        cachedSeconds: k.cached.median,
        cacheChance: p,
      },
      draw(rand, state) {
        state.cachedSoFar &&= rand() < p;
        if (state.cachedSoFar) return drawDuration(k.cached, rand);
        state.pushBytes += bytes;
        return drawDuration(cold, rand);
      },
    });
  }
  plans.push({
    step: { kind: 'install', component: 'binary', seconds: rateSeconds(k.binary, binaryBytes) },
    draw(rand, state) {
      state.pushBytes += binaryBytes;
      return drawRate(k.binary, binaryBytes, rand);
    },
  });
  plans.push({
    step: { kind: 'push', component: 'push', seconds: rateSeconds(k.push, binaryBytes + plans.filter((x) => x.step.kind === 'install' && x.step.component !== 'binary').reduce((n, x) => n + defaultLayerBytes(k, x.step.component), 0)) },
    draw: (rand, state) => drawRate(k.push, state.pushBytes, rand),
  });
  return plans;
}

function routeSteps(k: Knowledge, req: RunRequest): StepPlan[] {
  const binaryBytes = req.binaryBytes ?? k.binaryBytes;
  if (req.route === 'composed') {
    const n = req.components.length;
    return [
      ...req.components.map((key): StepPlan => ({ step: { kind: 'layer', component: key, seconds: 0 }, draw: () => 0 })),
      ...(req.verified === false
        ? [{ step: { kind: 'verify' as const, component: 'verify', seconds: k.verifyPerComponent.median * (1 + n) }, draw: (rand: () => number) => drawDuration(k.verifyPerComponent, rand) * (1 + n) }]
        : []),
      { step: { kind: 'assemble', component: 'binary', seconds: rateSeconds(k.assemble, binaryBytes) }, draw: (rand) => drawRate(k.assemble, binaryBytes, rand) },
    ];
  }
  const pulls: StepPlan[] = [];
  if (req.route === 'template') {
    // Per template first (a builder that pulled it keeps it), leaning on the overall share while it has few builds.
    const per = k.pullShareByTemplate.get(req.templateId ?? '');
    const p = per ? (per.hit + chance(k.pullShare)) / (per.total + 1) : chance(k.pullShare);
    const bytes = req.templateBytes ?? 0;
    pulls.push({
      step: { kind: 'pull', component: 'pull', seconds: rateSeconds(k.pull, bytes), chance: p },
      draw: (rand) => (rand() < p ? drawRate(k.pull, bytes, rand) : 0),
    });
  }
  return [...pulls, ...installSteps(k, req, binaryBytes)];
}

/** The run of a build (from when a builder takes it to its pushed image). */
export function estimateRun(k: Knowledge, req: RunRequest): RunEstimate {
  const plans = routeSteps(k, req);
  const overhead = k.overhead.get(req.route)!;
  const rand = seededRandom(0x6b696c6e);
  const totals: number[] = [];
  for (let i = 0; i < DRAWS; i++) {
    const state: DrawState = { cachedSoFar: true, pushBytes: 0 };
    let sum = drawDuration(overhead, rand);
    for (const p of plans) sum += p.draw(rand, state);
    totals.push(sum);
  }
  totals.sort((a, b) => a - b);
  const installs = req.route === 'composed' ? [] : req.components.filter((c) => !req.covered.includes(c));
  const measured = installs.filter((c) => k.install.get(c)?.measured).length;
  return {
    route: req.route,
    seconds: quantile(totals, 0.5),
    low: quantile(totals, LOW),
    high: quantile(totals, HIGH),
    basis: installs.length === 0 || measured === installs.length ? 'history' : measured === 0 ? 'catalog' : 'mixed',
    steps: plans.map((p) => p.step),
  };
}

/** What is ahead of a queued build: the runs still going (their estimated time left) and the builds before it. */
export interface AheadEstimates {
  running: Estimate[];
  queued: Estimate[];
}

/**
 * When a slot frees for the build after `queued`: the running builds' slots free as their time left runs out, and each
 * build ahead takes the first free slot (first come, first served). Run once with each bound for the range.
 */
function slotWait(ahead: AheadEstimates, pick: (e: Estimate) => number): number {
  const free = ahead.running.map(pick).sort((a, b) => a - b);
  for (const q of ahead.queued) {
    free[0] = free[0]! + pick(q);
    free.sort((a, b) => a - b);
  }
  return free[0]!;
}

/**
 * The wait of a build at `position` (1 = next). With the queue in view (`ahead`: a build only waits while every slot
 * is busy, so the running builds are the slots): when the runs ahead of it end, by their estimates. Without it:
 * `position` departures at the measured drain rate, a gamma; before that rate is known, each build ahead takes a
 * typical run, shared by `concurrency` slots, with a wide range.
 */
export function estimateQueue(k: Knowledge, position: number, concurrency: number, ahead?: AheadEstimates): Estimate {
  if (position <= 0) return { seconds: 0, low: 0, high: 0, basis: 'history' };
  if (ahead && ahead.running.length > 0) {
    const basis = [...ahead.running, ...ahead.queued].every((e) => e.basis === 'history') ? 'history' : 'mixed';
    return { seconds: slotWait(ahead, (e) => e.seconds), low: slotWait(ahead, (e) => e.low), high: slotWait(ahead, (e) => e.high), basis };
  }
  if (k.queueRate === null) {
    const s = (position * k.typicalRunSeconds) / Math.max(1, concurrency);
    return { seconds: s, low: s / 3, high: s * 3, basis: 'catalog' };
  }
  const theta = 1 / k.queueRate;
  return { seconds: gammaQuantile(0.5, position, theta), low: gammaQuantile(LOW, position, theta), high: gammaQuantile(HIGH, position, theta), basis: 'history' };
}

/** What a run estimated at `e` has left after `elapsed` seconds (an overrun is given a tenth more of its time). */
export function remainingOf(e: Estimate, elapsed: number): Estimate {
  return { seconds: leftOf(e.seconds, elapsed), low: leftOf(e.low, elapsed), high: leftOf(e.high, elapsed), basis: e.basis };
}

/** Queue and run together (the range adds the parts' ranges: a little wider than the sum's own, never narrower). */
export function addEstimates(a: Estimate, b: Estimate): Estimate {
  const basis = a.basis === b.basis ? a.basis : 'mixed';
  return { seconds: a.seconds + b.seconds, low: a.low + b.low, high: a.high + b.high, basis };
}

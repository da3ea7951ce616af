// What the estimator knows, learned from this installation's recorded steps and builds: per step kind a model of its
// seconds (robust: weighted medians and MADs of logs; recent samples weigh more), byte-rate lines for the steps that
// move bytes (push, pull, assembly), how often the layer cache answers a step and a template must be pulled, kiln's own
// overhead per route, and how fast the queue drains. Where nothing is measured, priors stand in (the catalog's install
// estimates, and the rates below); every prior is replaced as soon as one measurement exists. Pure.
import type { StepKind } from '../db/schema/builds.ts';
import type { BuildSample, Route, StepSample } from './estimate-types.ts';
import { effectiveCount, recency, theilSen, weightedMadSigma, weightedMedian, type Weighted } from './robust-stats.ts';

export interface EtaSettings {
  /** A sample's weight halves every this many seconds of age (networks and mirrors drift). */
  halfLifeSeconds: number;
  /** Only the newest this many samples of each key count (the rest add little but time). */
  maxPerKey: number;
  /** The queue's drain rate is measured over this many recent builds that waited. */
  queueSamples: number;
}

export const defaultEtaSettings: EtaSettings = { halfLifeSeconds: 7 * 86400, maxPerKey: 40, queueSamples: 200 };

/** A duration as a lognormal: its median and the σ of its log. */
export interface DurationModel {
  median: number;
  sigma: number;
  measured: boolean;
}

/** seconds = a + b·bytes, with a lognormal spread σ around the line. */
export interface RateModel {
  a: number;
  b: number;
  sigma: number;
  measured: boolean;
}

/** Weighted hits out of weighted trials. */
export interface Share {
  hit: number;
  total: number;
}

export interface Knowledge {
  install: Map<string, DurationModel>;
  cached: DurationModel;
  layerBytes: Map<string, number>;
  /** By `prefix>component`, over steps whose predecessors were all cached. */
  cacheShare: Map<string, Share>;
  verifyPerComponent: DurationModel;
  assemble: RateModel;
  binary: RateModel;
  push: RateModel;
  pull: RateModel;
  pullShare: Share;
  pullShareByTemplate: Map<string, Share>;
  overhead: Map<Route, DurationModel>;
  /** Builds leaving the queue per second while builds were waiting; null until enough builds waited. */
  queueRate: number | null;
  /** Median run of recent builds (for the queue, before its rate is known). */
  typicalRunSeconds: number;
  binaryBytes: number;
  /** The catalog's install estimates (the prior of components never measured installing here). */
  catalog: ReadonlyMap<string, number>;
}

// Priors for an installation that has measured nothing yet. Their only job is to be roughly right on day one; each is
// replaced by this installation's own measurements as soon as there is one (they are not fitted to any trace).
const MB = 1e6;
const PRIOR = {
  /** How far a catalog estimate is trusted: real networks differ from it by a factor of 2 either way. */
  catalogSigma: 0.7,
  /** σ a measured duration's spread is shrunk toward, with the weight of this many samples. */
  sigma: 0.35,
  sigmaWeight: 2,
  cachedSeconds: 0.5,
  verifySecondsPerComponent: 10,
  overheadSeconds: 2,
  assemble: { a: 1, b: 1 / (100 * MB) },
  binary: { a: 0.5, b: 1 / (200 * MB) },
  push: { a: 1, b: 1 / (50 * MB) },
  pull: { a: 1, b: 1 / (100 * MB) },
  layerBytes: 250 * MB,
  binaryBytes: 10 * MB,
};
/** Byte spreads below this say nothing about a rate. */
const MIN_BYTE_SPREAD = 2 * MB;

export function fitDuration(samples: readonly Weighted[], prior: { median: number; sigma: number }): DurationModel {
  if (samples.length === 0) return { ...prior, measured: false };
  const logs = samples.map((s) => ({ x: Math.log(Math.max(s.x, 0.01)), w: s.w }));
  const center = weightedMedian(logs);
  const n = effectiveCount(logs);
  const spread = weightedMadSigma(logs, center);
  // Few samples: the spread leans on the prior, and the median itself is uncertain (the √(1 + 1/n) term).
  const sigma = Math.sqrt((n * spread ** 2 + PRIOR.sigmaWeight * PRIOR.sigma ** 2) / (n + PRIOR.sigmaWeight)) * Math.sqrt(1 + 1 / Math.max(n, 1));
  return { median: Math.exp(center), sigma, measured: true };
}

export function fitRate(points: readonly { bytes: number; seconds: number; w: number }[], prior: { a: number; b: number }): RateModel {
  if (points.length === 0) return { ...prior, sigma: PRIOR.catalogSigma, measured: false };
  const line = points.length >= 3 ? theilSen(points.map((p) => ({ x: p.bytes, y: p.seconds, w: p.w })), MIN_BYTE_SPREAD) : undefined;
  const b = line && line.b > 0 ? line.b : prior.b;
  const a = Math.max(0.01, weightedMedian(points.map((p) => ({ x: p.seconds - b * p.bytes, w: p.w }))));
  const residuals = points.map((p) => ({ x: Math.max(p.seconds, 0.01) / Math.max(a + b * p.bytes, 0.01), w: p.w }));
  return { a, b, sigma: fitDuration(residuals, { median: 1, sigma: PRIOR.sigma }).sigma, measured: true };
}

const share = (): Share => ({ hit: 0, total: 0 });
/** The chance of a hit, counting one imagined miss: nothing seen means "no". */
export const chance = (s: Share | undefined) => (s ? s.hit / (s.total + 1) : 0);

function group<T>(items: readonly T[], key: (t: T) => string | undefined): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    if (k !== undefined) (out.get(k) ?? out.set(k, []).get(k)!).push(it);
  }
  return out;
}

/**
 * Learns from `steps` and `builds` (any order) as of `now` (epoch seconds). `catalog`: each component's
 * `costEstimateSeconds`, the prior of components never measured.
 */
export function learn(steps: readonly StepSample[], builds: readonly BuildSample[], catalog: ReadonlyMap<string, number>, now: number, settings = defaultEtaSettings): Knowledge {
  const newestFirst = [...steps].sort((a, b) => b.t - a.t);
  const weight = (t: number) => recency(now - t, settings.halfLifeSeconds);
  const take = (kind: StepKind | StepKind[], filter: (s: StepSample) => boolean = () => true) => {
    const kinds = Array.isArray(kind) ? kind : [kind];
    return newestFirst.filter((s) => kinds.includes(s.kind) && filter(s));
  };
  const durations = (xs: StepSample[]) => xs.slice(0, settings.maxPerKey).map((s) => ({ x: s.seconds, w: weight(s.t) }));
  const rates = (xs: StepSample[]) => xs.filter((s) => s.bytes !== null).slice(0, settings.maxPerKey).map((s) => ({ bytes: s.bytes!, seconds: s.seconds, w: weight(s.t) }));

  const install = new Map<string, DurationModel>();
  const layerBytes = new Map<string, number>();
  for (const [key, xs] of group(take('install', (s) => s.component !== 'binary'), (s) => s.component)) {
    install.set(key, fitDuration(durations(xs), { median: catalog.get(key) ?? 60, sigma: PRIOR.catalogSigma }));
    const sized = xs.filter((s) => s.bytes !== null).slice(0, settings.maxPerKey);
    if (sized.length) layerBytes.set(key, weightedMedian(sized.map((s) => ({ x: s.bytes!, w: weight(s.t) }))));
  }

  const cacheShare = new Map<string, Share>();
  for (const s of take(['install', 'cache'], (x) => x.prefix !== null && x.afterCached && x.component !== 'binary')) {
    const key = `${s.prefix}>${s.component}`;
    const sh = cacheShare.get(key) ?? cacheShare.set(key, share()).get(key)!;
    sh.total += weight(s.t);
    if (s.kind === 'cache') sh.hit += weight(s.t);
  }

  const verify = take('verify');
  const overhead = new Map<Route, DurationModel>();
  const recentBuilds = [...builds].sort((a, b) => b.finishedAt - a.finishedAt);
  for (const route of ['composed', 'template', 'install'] as const) {
    const xs = recentBuilds.filter((b) => b.route === route).slice(0, settings.maxPerKey);
    overhead.set(route, fitDuration(xs.map((b) => ({ x: Math.max(0.05, b.finishedAt - b.startedAt - b.stepSeconds), w: weight(b.finishedAt) })), { median: PRIOR.overheadSeconds, sigma: PRIOR.catalogSigma }));
  }

  const pullShare = share();
  const pullShareByTemplate = new Map<string, Share>();
  for (const b of recentBuilds.filter((x) => x.route === 'template')) {
    const w = weight(b.finishedAt);
    const per = pullShareByTemplate.get(b.templateId ?? '') ?? pullShareByTemplate.set(b.templateId ?? '', share()).get(b.templateId ?? '')!;
    for (const sh of [pullShare, per]) {
      sh.total += w;
      if (b.pulled) sh.hit += w;
    }
  }

  const binarySizes = take(['assemble', 'install', 'cache'], (s) => s.component === 'binary' && s.bytes !== null).slice(0, settings.maxPerKey);
  const runs = recentBuilds.slice(0, settings.maxPerKey).map((b) => ({ x: b.finishedAt - b.startedAt, w: 1 }));
  return {
    install,
    cached: fitDuration(durations(take('cache', (s) => s.component !== 'binary')), { median: PRIOR.cachedSeconds, sigma: PRIOR.catalogSigma }),
    layerBytes,
    cacheShare,
    verifyPerComponent: fitDuration(
      verify.slice(0, settings.maxPerKey).map((s) => ({ x: s.seconds / (1 + s.components), w: weight(s.t) })),
      { median: PRIOR.verifySecondsPerComponent, sigma: PRIOR.catalogSigma },
    ),
    assemble: fitRate(rates(take('assemble')), PRIOR.assemble),
    binary: fitRate(rates(take(['install', 'cache'], (s) => s.component === 'binary')), PRIOR.binary),
    push: fitRate(rates(take('push')), PRIOR.push),
    pull: fitRate(rates(take('pull')), PRIOR.pull),
    pullShare,
    pullShareByTemplate,
    overhead,
    queueRate: drainRate(recentBuilds, settings.queueSamples),
    typicalRunSeconds: runs.length ? weightedMedian(runs) : 60,
    binaryBytes: binarySizes.length ? weightedMedian(binarySizes.map((s) => ({ x: s.bytes!, w: weight(s.t) }))) : PRIOR.binaryBytes,
    catalog,
  };
}

/** The catalog's estimate, as a model, for a component never measured here. */
export const catalogModel = (k: Knowledge, key: string): DurationModel =>
  k.install.get(key) ?? { median: k.catalog.get(key) ?? 60, sigma: PRIOR.catalogSigma, measured: false };

export const defaultLayerBytes = (k: Knowledge, key: string) => k.layerBytes.get(key) ?? PRIOR.layerBytes;

/**
 * Builds leaving the queue per second of time when someone was waiting: builds that waited (≥ 1 s), divided by the
 * time covered by their waits (overlaps counted once). Only busy time counts: an idle night says nothing about speed.
 */
export function drainRate(builds: readonly BuildSample[], limit: number): number | null {
  const waited = builds
    .filter((b) => b.startedAt - b.queuedAt >= 1)
    .sort((a, b) => b.startedAt - a.startedAt)
    .slice(0, limit)
    .sort((a, b) => a.queuedAt - b.queuedAt);
  if (waited.length < 3) return null;
  let busy = 0;
  let end = -Infinity;
  for (const b of waited) {
    if (b.queuedAt > end) {
      busy += b.startedAt - b.queuedAt;
      end = b.startedAt;
    } else if (b.startedAt > end) {
      busy += b.startedAt - end;
      end = b.startedAt;
    }
  }
  return busy > 0 ? waited.length / busy : null;
}

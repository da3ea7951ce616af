// Robust statistics for the estimator, on weighted samples (recent ones weigh more): weighted quantiles and MAD,
// a weighted Theil–Sen line, a seeded random source and gamma quantiles. Pure.

export interface Weighted {
  x: number;
  w: number;
}

/** The weighted q-quantile (lower weighted quantile; 0.5 = weighted median). NaN when there is no weight. */
export function weightedQuantile(samples: readonly Weighted[], q: number): number {
  const s = samples.filter((v) => v.w > 0 && Number.isFinite(v.x)).sort((a, b) => a.x - b.x);
  const total = s.reduce((n, v) => n + v.w, 0);
  if (total <= 0) return NaN;
  let acc = 0;
  for (const v of s) {
    acc += v.w;
    if (acc >= q * total) return v.x;
  }
  return s.at(-1)!.x;
}

export const weightedMedian = (samples: readonly Weighted[]) => weightedQuantile(samples, 0.5);

/** Scaled weighted median absolute deviation: an estimate of σ that one wild sample cannot move. */
export function weightedMadSigma(samples: readonly Weighted[], center = weightedMedian(samples)): number {
  return 1.4826 * weightedMedian(samples.map((v) => ({ x: Math.abs(v.x - center), w: v.w })));
}

/** Kish's effective sample size: how many equal-weight samples the weights are worth. */
export function effectiveCount(samples: readonly Weighted[]): number {
  const sum = samples.reduce((n, v) => n + v.w, 0);
  const sq = samples.reduce((n, v) => n + v.w * v.w, 0);
  return sq > 0 ? (sum * sum) / sq : 0;
}

/** Halves every `halfLifeSeconds` of age. */
export const recency = (age: number, halfLifeSeconds: number) => Math.pow(0.5, Math.max(0, age) / halfLifeSeconds);

/**
 * A weighted Theil–Sen line y = a + b·x: the median of pairwise slopes (pairs whose x differ by at least `minDx`),
 * then the median intercept. Undefined when no pair spreads enough to say anything about the slope.
 */
export function theilSen(points: readonly { x: number; y: number; w: number }[], minDx: number): { a: number; b: number } | undefined {
  const slopes: Weighted[] = [];
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const p = points[i]!;
      const q = points[j]!;
      const dx = q.x - p.x;
      if (Math.abs(dx) >= minDx) slopes.push({ x: (q.y - p.y) / dx, w: p.w * q.w });
    }
  }
  if (slopes.length === 0) return undefined;
  const b = weightedMedian(slopes);
  return { a: weightedMedian(points.map((p) => ({ x: p.y - b * p.x, w: p.w }))), b };
}

/** mulberry32: a small seeded generator, so an estimate is the same for the same history. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A standard normal draw (Box–Muller). */
export function normal(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** The standard normal's quantile (Acklam's rational approximation; |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** The p-quantile of a Gamma(shape k, scale θ) (Wilson–Hilferty; close enough for a range shown to people). */
export function gammaQuantile(p: number, k: number, theta: number): number {
  const z = normalQuantile(p);
  const c = 1 / (9 * k);
  return k * theta * Math.max(0, Math.pow(1 - c + z * Math.sqrt(c), 3));
}

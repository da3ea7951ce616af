// Synthetic build traces: teams with environments (component sets) of Zipf-distributed popularity that drifts over
// time, as JSON lines {"t", "root", "components"} plus a cost file. Seeded, so a trace is reproducible.
import type { HistoryBuild } from '../../core/templates/savings.ts';

export interface TraceSpec {
  seed: number;
  days: number;
  buildsPerDay: number;
  environments: number;
  /** Zipf exponent of environment popularity. */
  zipf: number;
  /** Every `driftDays`, this fraction of the popularity ranking is reshuffled. */
  driftDays: number;
  driftFraction: number;
  costs: Record<string, number>;
}

/** Real-network install costs, in seconds (GCC from source ≈ 1 h, CUDA ≈ 20 min). */
export const realisticCosts: Record<string, number> = {
  'gcc@12': 3600,
  'gcc@11': 3600,
  'cuda@11.8': 1200,
  'openssl@1.1': 900,
  'jdk@17': 300,
  'jdk@11': 300,
  'openssl@3': 60,
  'python@3.11': 240,
  'boost@1.81': 1500,
  'protobuf@3': 600,
  'mkl@2023': 1200,
  'node@20': 120,
};

/** Installed sizes in bytes (measured here for the catalog's components; estimates for the rest). */
export const realisticSizes: Record<string, number> = {
  'cuda@11.8': 5617e6,
  'gcc@12': 323e6,
  'gcc@11': 300e6,
  'jdk@17': 308e6,
  'jdk@11': 300e6,
  'openssl@3': 21e6,
  'openssl@1.1': 30e6,
  'boost@1.81': 800e6,
  'mkl@2023': 2500e6,
  'python@3.11': 120e6,
  'protobuf@3': 60e6,
  'node@20': 90e6,
};

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32: small, fast, deterministic
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

export function generateTrace(spec: TraceSpec): HistoryBuild[] {
  const rand = rng(spec.seed);
  const names = Object.keys(spec.costs);
  const family = (k: string) => k.split('@')[0]!;
  // An environment: 1–5 components, at most one version per component family; cuda brings a gcc.
  const envs: string[][] = [];
  while (envs.length < spec.environments) {
    const size = 1 + Math.floor(rand() * 5);
    const set = new Map<string, string>();
    while (set.size < size) {
      const k = names[Math.floor(rand() * names.length)]!;
      if (!set.has(family(k))) set.set(family(k), k);
    }
    if (set.has('cuda') && !set.has('gcc')) set.set('gcc', rand() < 0.5 ? 'gcc@11' : 'gcc@12');
    envs.push([...set.values()].sort());
  }
  const ranking = envs.map((_, i) => i);
  const weights = ranking.map((_, r) => 1 / Math.pow(r + 1, spec.zipf));
  const totalWeight = weights.reduce((a, b) => a + b, 0);

  const trace: HistoryBuild[] = [];
  for (let day = 0; day < spec.days; day++) {
    if (day > 0 && day % spec.driftDays === 0) {
      // Drift: some environments change rank (new projects start, old ones go quiet).
      const moves = Math.round(spec.environments * spec.driftFraction);
      for (let m = 0; m < moves; m++) {
        const a = Math.floor(rand() * ranking.length);
        const b = Math.floor(rand() * ranking.length);
        [ranking[a], ranking[b]] = [ranking[b]!, ranking[a]!];
      }
    }
    for (let n = 0; n < spec.buildsPerDay; n++) {
      let x = rand() * totalWeight;
      let r = 0;
      while (x > weights[r]! && r < weights.length - 1) x -= weights[r++]!;
      trace.push({ t: day * 86400 + Math.floor(rand() * 86400), root: 'debian-bookworm', components: envs[ranking[r]!]! });
    }
  }
  return trace.sort((a, b) => a.t - b.t);
}

export const toJsonLines = (trace: HistoryBuild[]) => trace.map((b) => JSON.stringify(b)).join('\n') + '\n';

export function parseJsonLines(text: string): HistoryBuild[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((line, i) => {
      const v = JSON.parse(line) as HistoryBuild;
      if (typeof v.t !== 'number' || typeof v.root !== 'string' || !Array.isArray(v.components)) {
        throw new Error(`trace line ${i + 1}: expected {"t": number, "root": string, "components": string[]}`);
      }
      return v;
    });
}

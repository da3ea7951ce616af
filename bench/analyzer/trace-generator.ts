// Synthetic build traces, as JSON lines {"t", "root", "components"} plus a cost file. Teams of Zipf-distributed
// popularity each build a core environment plus optional extras (so a team yields many distinct combinations); on
// drift days a share of teams take up new environments; bursts (a team's release day), weekly seasonality (quiet
// weekends) and version churn (a family gets a new version that teams adopt over a few weeks). Seeded: reproducible.
import type { HistoryBuild } from '../../core/templates/savings.ts';

export interface TraceSpec {
  seed: number;
  days: number;
  /** Builds on an average weekday. */
  buildsPerDay: number;
  teams: number;
  /** Zipf exponent of team popularity. */
  zipf: number;
  /** Days on which `driftFraction` of the teams start building new environments (and change rank). */
  driftDays: number[];
  driftFraction: number;
  /** Per team and day, the chance of a burst: that team builds `burstFactor` times as much. */
  burstChance: number;
  burstFactor: number;
  /** Saturdays and Sundays get this share of a weekday's builds. */
  weekendShare: number;
  /** Every `churnDays` a component family gets a new version; each team moves to it within `adoptDays`. */
  churnDays: number;
  adoptDays: number;
  /** Chance that a build includes each of its team's optional components. */
  optionalChance: number;
  /** Core and optional families per team, at most. */
  maxCore: number;
  maxOptional: number;
  /** Component families: versions in order of release (the first `initialVersions` exist at day 0) and install cost. */
  families: Record<string, { versions: string[]; seconds: number }>;
  initialVersions: number;
}

/** Real-network install costs per family, in seconds (GCC from source ≈ 1 h, CUDA ≈ 20 min). */
export const realisticFamilies: TraceSpec['families'] = {
  gcc: { versions: ['11', '12', '13', '14'], seconds: 3600 },
  cuda: { versions: ['11.8', '12.2', '12.4', '12.6'], seconds: 1200 },
  boost: { versions: ['1.81', '1.83', '1.85', '1.86'], seconds: 1500 },
  mkl: { versions: ['2023', '2024', '2025', '2026'], seconds: 1200 },
  openssl: { versions: ['1.1', '3', '3.2', '3.3'], seconds: 900 },
  protobuf: { versions: ['3', '4', '5', '6'], seconds: 600 },
  jdk: { versions: ['11', '17', '21', '23'], seconds: 300 },
  python: { versions: ['3.10', '3.11', '3.12', '3.13'], seconds: 240 },
  rust: { versions: ['1.75', '1.78', '1.80', '1.82'], seconds: 400 },
  node: { versions: ['18', '20', '22', '24'], seconds: 120 },
  go: { versions: ['1.21', '1.22', '1.23', '1.24'], seconds: 150 },
  cmake: { versions: ['3.25', '3.27', '3.29', '3.30'], seconds: 200 },
};

/**
 * What a family needs in the same image (nvcc compiles host code with g++): every build with the family gets them too,
 * and a catalog made from a trace (composition-replay.ts) says so with `requires`.
 */
export const familyRequires: Record<string, string[]> = { cuda: ['gcc'] };

/** The families in `fams` plus what they require, appended in order (the list is changed in place). */
function addRequired(fams: string[]): string[] {
  for (const f of [...fams]) for (const r of familyRequires[f] ?? []) if (!fams.includes(r)) fams.push(r);
  return fams;
}

/** Installed sizes per family in bytes (measured here for the catalog's components; estimates for the rest). */
const familyBytes: Record<string, number> = {
  gcc: 323e6, cuda: 5617e6, boost: 800e6, mkl: 2500e6, openssl: 30e6, protobuf: 60e6,
  jdk: 308e6, python: 120e6, rust: 600e6, node: 90e6, go: 250e6, cmake: 80e6,
};

export const costsOf = (families: TraceSpec['families']): Record<string, number> =>
  Object.fromEntries(Object.entries(families).flatMap(([f, v]) => v.versions.map((ver) => [`${f}@${ver}`, v.seconds])));

/** Sizes for every component key of the families above (and of the older traces, whose keys are the same kind). */
export const realisticSizes: Record<string, number> = Object.fromEntries(
  Object.entries(realisticFamilies).flatMap(([f, v]) => v.versions.concat(['11.8', '1.81', '2023', '3', '1.1', '20', '3.11', '17', '11', '12']).map((ver) => [`${f}@${ver}`, familyBytes[f]!])),
);

export const defaultSpec = (o: Partial<TraceSpec> = {}): TraceSpec => ({
  seed: 1,
  days: 60,
  buildsPerDay: 90,
  teams: 60,
  zipf: 1.0,
  driftDays: [30],
  driftFraction: 0.5,
  burstChance: 0.02,
  burstFactor: 8,
  weekendShare: 0.25,
  churnDays: 20,
  adoptDays: 21,
  optionalChance: 0.3,
  maxCore: 4,
  maxOptional: 4,
  families: realisticFamilies,
  initialVersions: 2,
  ...o,
});

export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32: small, fast, deterministic
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

interface Team {
  core: string[];
  optional: string[];
  /** Per family: the version index the team uses, and the day it moves to the next one (if a newer one exists). */
  version: Map<string, number>;
  moveDay: Map<string, number>;
}

export function generateTrace(spec: TraceSpec): HistoryBuild[] {
  const rand = rng(spec.seed);
  const families = Object.keys(spec.families);
  const latest = new Map(families.map((f) => [f, Math.min(spec.initialVersions, spec.families[f]!.versions.length) - 1]));
  const pick = (n: number, not: Set<string>) => {
    const out: string[] = [];
    while (out.length < n && out.length + not.size < families.length) {
      // Heavier families are a little likelier (toolchains are what rich environments are made of).
      const f = families[Math.floor(Math.pow(rand(), 1.3) * families.length)]!;
      if (!not.has(f) && !out.includes(f)) out.push(f);
    }
    return out;
  };
  const newTeam = (): Team => {
    const core = addRequired(pick(1 + Math.floor(rand() * spec.maxCore), new Set()));
    const optional = pick(Math.floor(rand() * (spec.maxOptional + 1)), new Set(core));
    const version = new Map([...core, ...optional].map((f) => [f, Math.max(0, latest.get(f)! - (rand() < 0.3 ? 1 : 0))]));
    return { core, optional, version, moveDay: new Map() };
  };
  const teams = Array.from({ length: spec.teams }, newTeam);
  const rank = teams.map((_, i) => i);
  const weights = teams.map((_, r) => 1 / Math.pow(r + 1, spec.zipf));
  const total = weights.reduce((a, b) => a + b, 0);
  const churnOrder = [...families].sort(() => rand() - 0.5);

  const trace: HistoryBuild[] = [];
  for (let day = 0; day < spec.days; day++) {
    if (spec.driftDays.includes(day)) {
      for (let i = 0; i < teams.length; i++) if (rand() < spec.driftFraction) teams[i] = newTeam();
      for (let m = 0; m < Math.round(teams.length * spec.driftFraction); m++) {
        const a = Math.floor(rand() * rank.length);
        const b = Math.floor(rand() * rank.length);
        [rank[a], rank[b]] = [rank[b]!, rank[a]!];
      }
    }
    if (day > 0 && spec.churnDays > 0 && day % spec.churnDays === 0) {
      const f = churnOrder[(day / spec.churnDays - 1) % churnOrder.length]!;
      if (latest.get(f)! + 1 < spec.families[f]!.versions.length) {
        latest.set(f, latest.get(f)! + 1);
        for (const t of teams) if (t.version.has(f)) t.moveDay.set(f, day + Math.floor(rand() * spec.adoptDays));
      }
    }
    for (const t of teams) {
      for (const [f, d] of t.moveDay) {
        if (d <= day) {
          t.version.set(f, latest.get(f)!);
          t.moveDay.delete(f);
        }
      }
    }
    const weekend = day % 7 === 5 || day % 7 === 6;
    const burst = teams.map(() => (rand() < spec.burstChance ? spec.burstFactor : 1));
    const dayWeights = weights.map((w, r) => w * burst[rank[r]!]!);
    const dayTotal = dayWeights.reduce((a, b) => a + b, 0);
    const n = Math.round(spec.buildsPerDay * (weekend ? spec.weekendShare : 1) * (dayTotal / total) * (0.8 + 0.4 * rand()));
    for (let b = 0; b < n; b++) {
      let x = rand() * dayTotal;
      let r = 0;
      while (x > dayWeights[r]! && r < dayWeights.length - 1) x -= dayWeights[r++]!;
      const team = teams[rank[r]!]!;
      const fams = addRequired([...team.core, ...team.optional.filter(() => rand() < spec.optionalChance)]);
      // At most eight components per build: extras beyond that are left out.
      if (fams.length > 8) fams.splice(team.core.length, fams.length - 8);
      const components = fams.map((f) => `${f}@${spec.families[f]!.versions[team.version.get(f) ?? latest.get(f)!]!}`).sort();
      // Working hours weigh more than the night.
      const hour = rand() < 0.8 ? 8 + rand() * 10 : rand() * 24;
      trace.push({ t: day * 86400 + Math.floor(hour * 3600), root: 'debian-bookworm', components });
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

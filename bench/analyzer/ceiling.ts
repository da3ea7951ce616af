// Proven upper bounds on what any template policy can net on a trace under the replay's accounting (trace-replay.ts):
// an LP relaxation over all periods at once, solved with HiGHS, and, for tiny traces, the exact optimum by dynamic
// programming over the sets a policy may hold.
//
// Why the LP is an upper bound. Take any policy and the sets T_p it holds in each period p. Candidates are the
// subsets of combinations built in the trace (a template no build contains spares nothing, and dropping it only
// lowers a policy's cost). For a candidate t, "useful" periods are those with a build containing t. Set
// y[t,p] = 1 if t ∈ T_p (useful p only); x[g,t,p] = 1 if t is the best template in T_p for combination g built n[g,p]
// times in p; z[t,p] = 1 if t ∈ T_p but not in T_q, q the previous useful period of t (or p is its first). Then
// x ≤ y, Σ_t x[g,·,p] ≤ 1 and Σ_t y[·,p] ≤ |T_p| ≤ K hold. Whenever z[t,p] = 1 the policy built t at some period in
// (q, p], and those intervals are disjoint for one t, so its build charges are at least Σ c_t z[t,p]. Its savings are
// exactly Σ n[g,p] c_t x[g,t,p]. So its net is at most the LP objective at this integer point, hence at most the LP
// optimum, which relaxes integrality and leaves idle periods unconstrained. It covers the scored periods only: in the
// replay's warm-up no policy holds a template, so whatever one holds in the first scored period is built there and
// charged. (Solver tolerance: HiGHS's default relative optimality gap, 1e-7, far below the printed precision.)
import highsModule from 'highs';
import { costOf, isSubset, setKey, type Costs, type HistoryBuild } from '../../core/templates/savings.ts';
import { periods } from './trace-replay.ts';

interface Group {
  root: string;
  components: string[];
  n: number;
}

interface CeilingOptions {
  periodSeconds: number;
  maxTemplates: number;
  /** Leading periods nobody is scored on (the replay's warm-up); no policy holds a template in them. */
  warmupPeriods?: number;
}

/** Per scored period, its distinct combinations with counts. */
function groupsPerPeriod(trace: readonly HistoryBuild[], o: CeilingOptions): Group[][] {
  return periods(trace, o.periodSeconds).slice(o.warmupPeriods ?? 1).map(({ builds }) => {
    const m = new Map<string, Group>();
    for (const b of builds) {
      const key = setKey(b.root, b.components);
      const g = m.get(key) ?? { root: b.root, components: [...b.components].sort(), n: 0 };
      g.n++;
      m.set(key, g);
    }
    return [...m.values()];
  });
}

// The package's types describe its CommonJS build; under ESM the default export is the loader itself.
type HighsLoader = () => Promise<{ solve(lp: string, opts?: Record<string, unknown>): { Status: string; ObjectiveValue: number } }>;
const highsLoader = highsModule as unknown as HighsLoader;

const subsets = (items: string[]) =>
  Array.from({ length: (1 << items.length) - 1 }, (_, m) => items.filter((__, i) => (m + 1) & (1 << i)));

export async function lpCeiling(trace: readonly HistoryBuild[], costs: Costs, opts: CeilingOptions): Promise<number> {
  const perPeriod = groupsPerPeriod(trace, opts);
  const ids = new Map<string, number>();
  const candCost: number[] = [];
  const obj: string[] = [];
  const rows: string[] = [];
  const bounds: string[] = [];
  const lastUseful = new Map<number, number>();
  perPeriod.forEach((groups, p) => {
    const useful = new Set<number>();
    const assign: string[] = [];
    groups.forEach((g, gi) => {
      const sum: string[] = [];
      for (const s of subsets(g.components)) {
        const key = setKey(g.root, s);
        let t = ids.get(key);
        if (t === undefined) {
          t = candCost.length;
          ids.set(key, t);
          candCost.push(costOf(s, costs));
        }
        useful.add(t);
        const x = `x${p}_${gi}_${t}`;
        sum.push(x);
        if (candCost[t]! > 0) obj.push(`+ ${g.n * candCost[t]!} ${x}`);
        assign.push(`${x} - y${t}_${p} <= 0`);
      }
      rows.push(sum.join(' + ') + ' <= 1');
    });
    rows.push(...assign);
    rows.push([...useful].map((t) => `y${t}_${p}`).join(' + ') + ` <= ${opts.maxTemplates}`);
    for (const t of useful) {
      const q = lastUseful.get(t);
      rows.push(q === undefined ? `y${t}_${p} - z${t}_${p} <= 0` : `y${t}_${p} - y${t}_${q} - z${t}_${p} <= 0`);
      if (candCost[t]! > 0) obj.push(`- ${candCost[t]!} z${t}_${p}`);
      bounds.push(`y${t}_${p} <= 1`);
      lastUseful.set(t, p);
    }
  });
  if (obj.length === 0) return 0;
  const lp = [
    'Maximize',
    ` obj: ${obj.join(' ')}`,
    'Subject To',
    ...rows.map((r, i) => ` c${i}: ${r}`),
    'Bounds',
    ...bounds.map((b) => ` ${b}`),
    'End',
  ].join('\n');
  const highs = await highsLoader();
  const res = highs.solve(lp, { presolve: 'on' });
  if (res.Status !== 'Optimal') throw new Error(`LP ceiling: HiGHS answered ${res.Status}`);
  return res.ObjectiveValue;
}

/**
 * The exact optimum by dynamic programming over every set of at most K candidates a policy may hold in each period;
 * for tiny traces only (the number of sets grows as candidates^K).
 */
export function exactOptimum(trace: readonly HistoryBuild[], costs: Costs, opts: CeilingOptions): number {
  const perPeriod = groupsPerPeriod(trace, opts);
  const cands = [...new Map(perPeriod.flat().flatMap((g) => subsets(g.components).map((s) => [setKey(g.root, s), { root: g.root, components: s }] as const))).values()];
  const sets: number[][] = [[]];
  const grow = (from: number, cur: number[]) => {
    for (let i = from; i < cands.length; i++) {
      const next = [...cur, i];
      sets.push(next);
      if (next.length < opts.maxTemplates) grow(i + 1, next);
    }
  };
  if (opts.maxTemplates > 0) grow(0, []);
  if (sets.length > 200_000) throw new Error(`exact optimum: ${sets.length} sets is too many`);
  const cost = (i: number) => costOf(cands[i]!.components, costs);
  let value = sets.map((s) => (s.length === 0 ? 0 : -Infinity));
  for (const groups of perPeriod) {
    const saved = sets.map((s) =>
      groups.reduce((n, g) => {
        const have = new Set(g.components);
        let best = 0;
        for (const i of s) if (cands[i]!.root === g.root && isSubset(cands[i]!.components, have)) best = Math.max(best, cost(i));
        return n + g.n * best;
      }, 0),
    );
    value = sets.map((next, b) => {
      let best = -Infinity;
      sets.forEach((prev, a) => {
        if (value[a] === -Infinity) return;
        const build = next.filter((i) => !prev.includes(i)).reduce((n, i) => n + cost(i), 0);
        best = Math.max(best, value[a]! - build);
      });
      return best + saved[b]!;
    });
  }
  return Math.max(...value);
}

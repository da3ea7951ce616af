// The build history as the analyzer reads it: one row per combination (root + component set) and hour with its build
// count, in columns — a big installation's window is hundreds of thousands of such rows, which cross to the analysis
// thread as a few typed arrays instead of as many objects. Pure.

export interface DemandHours {
  /**
   * The distinct combinations the rows name (components in any order; the analysis sorts them), each with the
   * components the engine's layer cache served in those builds: a template spares a build only what it installed.
   */
  combos: { root: string; components: string[]; cached?: string[]; covered?: string[] }[];
  /** Per row: which combination (index into `combos`), when (epoch seconds), and how many builds it stands for. */
  combo: Int32Array;
  t: Float64Array;
  count: Float64Array;
}

/** Columns from rows, one combination per distinct root and component list. */
export function demandHours(rows: Iterable<{ root: string; components: readonly string[]; cached?: readonly string[]; covered?: readonly string[]; t: number; count?: number }>): DemandHours {
  const index = new Map<string, number>();
  const combos: DemandHours['combos'] = [];
  const combo: number[] = [];
  const t: number[] = [];
  const count: number[] = [];
  for (const r of rows) {
    const key = `${r.root}|${r.components.join('+')}|${r.cached?.join('+') ?? ''}|${r.covered?.join('+') ?? ''}`;
    let i = index.get(key);
    if (i === undefined) {
      i = combos.length;
      index.set(key, i);
      combos.push({ root: r.root, components: [...r.components], ...(r.cached?.length ? { cached: [...r.cached] } : {}), ...(r.covered?.length ? { covered: [...r.covered] } : {}) });
    }
    combo.push(i);
    t.push(r.t);
    count.push(r.count ?? 1);
  }
  return { combos, combo: Int32Array.from(combo), t: Float64Array.from(t), count: Float64Array.from(count) };
}

/** The rows whose combination passes `keep`, renumbered (e.g. history still expressible in today's catalog). */
export function filterDemandHours(d: DemandHours, keep: (c: DemandHours['combos'][number]) => boolean): DemandHours {
  const renumber = new Int32Array(d.combos.length).fill(-1);
  const combos: DemandHours['combos'] = [];
  d.combos.forEach((c, i) => {
    if (keep(c)) renumber[i] = combos.push(c) - 1;
  });
  if (combos.length === d.combos.length) return d;
  // Plain loops over the columns: on a big window this runs on the analyzer's event loop, before the analysis thread.
  let n = 0;
  for (let r = 0; r < d.combo.length; r++) if (renumber[d.combo[r]!]! >= 0) n++;
  const out: DemandHours = { combos, combo: new Int32Array(n), t: new Float64Array(n), count: new Float64Array(n) };
  for (let r = 0, x = 0; r < d.combo.length; r++) {
    const i = renumber[d.combo[r]!]!;
    if (i < 0) continue;
    out.combo[x] = i;
    out.t[x] = d.t[r]!;
    out.count[x++] = d.count[r]!;
  }
  return out;
}

export const demandBuilds = (d: DemandHours): number => d.count.reduce((n, c) => n + c, 0);

// Local search after greedy: the best move among dropping one template, adding one, or swapping one chosen template for
// one of the best unchosen candidates, repeated while it improves the objective. Each move is scored incrementally from
// every combination's best and second-best saving, so a round costs one pass over each pooled candidate's cover. Pinned
// templates (kept by hysteresis) are never dropped or swapped out. Pure.
import { setCost, type Problem } from './template-selector.ts';

export function localSearch(p: Problem, picked: readonly number[], pool: readonly number[], pinned: ReadonlySet<number> = new Set()): number[] {
  const { cands, weights } = p;
  let set = [...picked];
  const waiting = new Set(pool);
  const maxMoves = (p.opts.swapPasses ?? 2) * Math.max(1, p.opts.maxTemplates);
  const bytesOf = (s: readonly number[]) => s.reduce((n, i) => n + cands[i]!.bytes, 0);
  const fits = (s: readonly number[]) => s.length <= p.opts.maxTemplates && (p.opts.maxBytes === undefined || bytesOf(s) <= p.opts.maxBytes);
  const costOfSet = (s: readonly number[]) => setCost(s.map((i) => cands[i]!));

  for (let move = 0; move < maxMoves; move++) {
    // Every combination's best and second-best saving under the set, and which member gives the best.
    const best1 = new Float64Array(weights.length);
    const best2 = new Float64Array(weights.length);
    const by1 = new Int32Array(weights.length).fill(-1);
    set.forEach((i, x) => {
      const c = cands[i]!;
      for (const g of c.cover) {
        if (c.cost > best1[g]!) {
          best2[g] = best1[g]!;
          best1[g] = c.cost;
          by1[g] = x;
        } else if (c.cost > best2[g]!) best2[g] = c.cost;
      }
    });
    let savings = 0;
    const loss = new Float64Array(set.length);
    for (let g = 0; g < weights.length; g++) {
      savings += weights[g]! * best1[g]!;
      if (by1[g]! >= 0) loss[by1[g]!]! += weights[g]! * (best1[g]! - best2[g]!);
    }
    let bestValue = savings - costOfSet(set) + 1e-6;
    let bestSet: number[] | undefined;
    const consider = (value: number, next: number[]) => {
      if (value > bestValue && fits(next)) {
        bestValue = value;
        bestSet = next;
      }
    };

    set.forEach((i, x) => {
      if (pinned.has(i)) return;
      const without = set.filter((__, y) => y !== x);
      consider(savings - loss[x]! - costOfSet(without), without);
    });
    for (const i of waiting) {
      const c = cands[i]!;
      let add = 0;
      const extra = new Float64Array(set.length);
      for (const g of c.cover) {
        const w = weights[g]!;
        const a = c.cost > best1[g]! ? w * (c.cost - best1[g]!) : 0;
        add += a;
        if (by1[g]! >= 0) extra[by1[g]!]! += (c.cost > best2[g]! ? w * (c.cost - best2[g]!) : 0) - a;
      }
      if (add <= 0 && !set.some((_, x) => extra[x]! > 0)) continue;
      if (set.length < p.opts.maxTemplates) consider(savings + add - costOfSet([...set, i]), [...set, i]);
      set.forEach((j, x) => {
        if (pinned.has(j)) return;
        const next = [...set.filter((__, y) => y !== x), i];
        consider(savings - loss[x]! + add + extra[x]! - costOfSet(next), next);
      });
    }
    if (!bestSet) break;
    for (const i of set) if (!bestSet.includes(i)) waiting.add(i);
    for (const i of bestSet) waiting.delete(i);
    set = bestSet;
  }
  return set;
}

// The analyzer at the service's cadence (KILN_ANALYZER_INTERVAL_SECONDS = 1 h): how often its template set drops a
// template and adds it back within a week — each re-add is a template rebuild — and what it nets, with the hysteresis
// between runs (half-life margin, hold before a drop) off and on, in one process. Held-out traces are generated from
// seeds and shapes the hysteresis constants were not chosen on (those were chosen on seeds 7 and 101, default shape).
import { defaultAnalysisOptions } from '../../analyzer/analyzer-settings.ts';
import type { Costs, HistoryBuild } from '../../core/templates/savings.ts';
import { costsOf, defaultSpec, generateTrace, realisticSizes, type TraceSpec } from './trace-generator.ts';
import { policies, replay, type ReplayOptions, type ReplayResult } from './trace-replay.ts';

const HOUR = 3600;
const DAY = 86400;

/** Held out: none of these was looked at while the constants in analyzer-settings.ts were chosen. */
export const heldOutShapes: Record<string, Partial<TraceSpec>> = {
  'seed-2027': { seed: 2027 },
  'seed-4243-zipf1.4-40teams-bursty': { seed: 4243, zipf: 1.4, teams: 40, burstChance: 0.05 },
  'seed-9001-200perday-2drifts-churn10': { seed: 9001, buildsPerDay: 200, driftDays: [20, 40], churnDays: 10 },
  'seed-31337-120teams-zipf0.8-45days': { seed: 31337, teams: 120, zipf: 0.8, weekendShare: 0.1, days: 45 },
};

export function heldOutTrace(shape: Partial<TraceSpec>): { trace: HistoryBuild[]; costs: Costs } {
  const spec = defaultSpec(shape);
  return { trace: generateTrace(spec), costs: new Map(Object.entries(costsOf(spec.families))) };
}

export interface Hysteresis {
  halfLifeMargin: number;
  holdRebuilds: number;
}
/** Today's policy before the hysteresis between runs: the best half-life always decides, a losing template goes at once. */
export const noHysteresis: Hysteresis = { halfLifeMargin: 0, holdRebuilds: 0 };

/** kiln replayed at `periodSeconds` (1 h: the service's cadence) with the given hysteresis (default: the service's). */
export function replayKiln(trace: readonly HistoryBuild[], costs: Costs, o: { maxTemplates: number; periodSeconds?: number; hysteresis?: Hysteresis; sizes?: ReadonlyMap<string, number> }): ReplayResult {
  const periodSeconds = o.periodSeconds ?? HOUR;
  const opts: ReplayOptions = {
    periodSeconds,
    windowSeconds: 28 * DAY,
    maxTemplates: o.maxTemplates,
    // The first day is history for every cadence alike.
    warmupPeriods: Math.ceil(DAY / periodSeconds),
    analysis: { ...defaultAnalysisOptions(), sizes: o.sizes ?? new Map(Object.entries(realisticSizes)), ...o.hysteresis },
  };
  return replay('kiln', trace, costs, policies.kiln(costs, opts), opts);
}

/** Lines of the before/after table for one trace: pairs (drop then re-add within 7 days), templates built, net. */
export function hourlyTable(trace: readonly HistoryBuild[], costs: Costs, budgets: readonly number[]): string[] {
  const out = [`  ${'budget  cadence'.padEnd(18)} ${'pairs before → after'.padEnd(22)} ${'built before → after'.padEnd(22)} net install-s before → after (change)   runtime s`];
  for (const k of budgets) {
    for (const periodSeconds of [HOUR, DAY]) {
      const started = performance.now();
      const before = replayKiln(trace, costs, { maxTemplates: k, periodSeconds, hysteresis: noHysteresis });
      const after = replayKiln(trace, costs, { maxTemplates: k, periodSeconds });
      const seconds = (performance.now() - started) / 1000;
      out.push(
        `  ${`K=${k}`.padEnd(8)}${(periodSeconds === HOUR ? 'hourly' : 'daily').padEnd(10)} ${`${before.rebuilds} → ${after.rebuilds}`.padEnd(22)} ${`${before.templatesBuilt} → ${after.templatesBuilt}`.padEnd(22)} ` +
          `${before.netSeconds.toFixed(0)} → ${after.netSeconds.toFixed(0)} (${pct(after.netSeconds, before.netSeconds)})`.padEnd(40) +
          seconds.toFixed(1).padStart(10),
      );
    }
  }
  return out;
}

/**
 * Pairs and net change (against no hysteresis) at K templates, hourly, over a grid of the two settings: the half-life
 * margin, and how many rebuilds' worth of lost savings a losing template is held for (1: rent or buy).
 */
export function hysteresisSensitivity(trace: readonly HistoryBuild[], costs: Costs, k: number, margins: readonly number[], holdRebuilds: readonly number[]): string[] {
  const base = replayKiln(trace, costs, { maxTemplates: k, hysteresis: noHysteresis });
  const out = [
    `  no hysteresis: ${base.rebuilds} pairs, net ${base.netSeconds.toFixed(0)}; cells: pairs / net change, hourly at K=${k}`,
    `  ${'margin \\ hold'.padEnd(14)}${holdRebuilds.map((h) => `${h}× rebuild`.padStart(17)).join('')}`,
  ];
  for (const m of margins) {
    const cells = holdRebuilds.map((h) => {
      const r = replayKiln(trace, costs, { maxTemplates: k, hysteresis: { halfLifeMargin: m, holdRebuilds: h } });
      return `${r.rebuilds} / ${pct(r.netSeconds, base.netSeconds)}`.padStart(17);
    });
    out.push(`  ${String(m).padEnd(14)}${cells.join('')}`);
  }
  return out;
}

const pct = (a: number, b: number) => `${a >= b ? '+' : ''}${((100 * (a - b)) / Math.abs(b)).toFixed(2)} %`;

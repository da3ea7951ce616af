// `npm run bench:analyzer -- --scale`: one analysis on a big installation's window — 500k builds, about 30k distinct
// combinations of up to 8 components — timed, with the process's peak memory (VmHWM), against the goal of 10 s and
// 500 MB on this machine.
import { readFileSync } from 'node:fs';
import { analyzeDemand } from '../../analyzer/analysis.ts';
import { defaultAnalysisOptions } from '../../analyzer/analyzer-settings.ts';
import { aggregateDemand, type DemandRow } from '../../analyzer/demand.ts';
import { costsOf, defaultSpec, generateTrace, realisticSizes } from './trace-generator.ts';

/** The big installation's window: 28 days, 500k builds, thousands of teams with many optional extras. */
export function scaleHistory(): { rows: DemandRow[]; costs: Map<string, number> } {
  const spec = defaultSpec({ seed: 7, days: 28, teams: 6000, buildsPerDay: 22_000, zipf: 0.8, maxCore: 5, maxOptional: 5, optionalChance: 0.35, driftDays: [14], churnDays: 7 });
  return { rows: generateTrace(spec), costs: new Map(Object.entries(costsOf(spec.families))) };
}

const peakMb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;

export async function scaleBench(): Promise<void> {
  const { rows, costs } = scaleHistory();
  const distinct = new Set(rows.map((r) => r.components.join('+'))).size;
  const maxLen = Math.max(...rows.map((r) => r.components.length));
  const now = Math.max(...rows.map((r) => r.t)) + 1;
  const before = peakMb();
  const started = performance.now();
  const demand = aggregateDemand(rows, costs);
  const a = analyzeDemand(demand, costs, {
    ...defaultAnalysisOptions(),
    sizes: new Map(Object.entries(realisticSizes)),
    now,
    windowSeconds: 28 * 86400,
    maxTemplates: 20,
    built: new Set(),
  });
  const seconds = (performance.now() - started) / 1000;
  const peak = peakMb();
  console.log(`scale: ${rows.length} builds, ${distinct} distinct combinations, up to ${maxLen} components, budget 20 templates`);
  console.log(`one analysis (aggregate, mine ${a.templates.candidates} candidates, score ${defaultAnalysisOptions().halfLives.length} weightings, select): ${seconds.toFixed(1)} s (goal ≤ 10 s)`);
  console.log(`peak memory of this process: ${peak.toFixed(0)} MB (${before.toFixed(0)} MB before the analysis, holding the generated history; goal ≤ 500 MB)`);
  console.log(`chosen half-life ${(a.halfLife / 86400).toFixed(0)} d; ${a.templates.templates.length} templates`);
  if (seconds > 10 || peak > 500) process.exitCode = 1;
}

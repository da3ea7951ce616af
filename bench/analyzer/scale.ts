// `npm run bench:analyzer -- --scale`: one analysis on a big installation's window — 500k builds, about 30k distinct
// combinations of up to 8 components — timed, with the process's peak memory (VmHWM), against the goal of 10 s and
// 500 MB on this machine.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

/**
 * The history as the service reads it from the database: one row per combination and hour, with its build count
 * (template-store.ts aggregates the same way in SQL). Written by a child process, so that generating half a million
 * builds does not count in this process's peak memory.
 */
function writeHistory(file: string): void {
  const { rows, costs } = scaleHistory();
  const hours = new Map<string, { root: string; components: readonly string[]; t: number; count: number }>();
  for (const r of rows) {
    const t = Math.floor(r.t / 3600) * 3600 + 1800;
    const key = `${t}|${r.components.join('+')}`;
    const h = hours.get(key) ?? hours.set(key, { root: r.root, components: r.components, t, count: 0 }).get(key)!;
    h.count++;
  }
  writeFileSync(file, JSON.stringify({ costs: Object.fromEntries(costs), rows: [...hours.values()] }));
}

export async function scaleBench(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-scale-'));
  const file = path.join(dir, 'history.json');
  execFileSync(process.execPath, [...process.execArgv, import.meta.filename, '--write-history', file], { stdio: 'inherit' });
  const input = JSON.parse(readFileSync(file, 'utf8')) as { costs: Record<string, number>; rows: Required<DemandRow>[] };
  rmSync(dir, { recursive: true, force: true });
  const costs = new Map(Object.entries(input.costs));
  const rows = input.rows;
  const builds = rows.reduce((n, r) => n + r.count, 0);
  const distinct = new Set(rows.map((r) => r.components.join('+'))).size;
  const maxLen = rows.reduce((n, r) => Math.max(n, r.components.length), 0);
  const now = rows.reduce((n, r) => Math.max(n, r.t), 0) + 1800;
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
  console.log(`scale: ${builds} builds (${rows.length} combination-hours), ${distinct} distinct combinations, up to ${maxLen} components, budget 20 templates`);
  console.log(`one analysis (aggregate, mine ${a.templates.candidates} candidates, score ${defaultAnalysisOptions().halfLives.length} weightings, select): ${seconds.toFixed(1)} s (goal ≤ 10 s)`);
  console.log(`peak memory of this process: ${peak.toFixed(0)} MB (${before.toFixed(0)} MB before the analysis, holding the history as read; goal ≤ 500 MB)`);
  console.log(`chosen half-life ${(a.halfLife / 86400).toFixed(0)} d; ${a.templates.templates.length} templates`);
  if (seconds > 10 || peak > 500) process.exitCode = 1;
}

if (process.argv[2] === '--write-history') writeHistory(process.argv[3]!);

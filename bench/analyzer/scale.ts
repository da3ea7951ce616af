// `npm run bench:analyzer -- --scale [--runs N]`: one analysis on a big installation's window — 500k builds, about 30k
// distinct combinations of up to 8 components — run N times as the service runs it (in a fresh worker thread), with
// the median and range of its wall and CPU time and the process's peak memory (VmHWM, worker included), against the
// goal of 10 s and 500 MB on this machine.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Analysis, AnalysisOptions } from '../../analyzer/analysis.ts';
import { analyzeInWorker } from '../../analyzer/analysis-worker.ts';
import { defaultAnalysisOptions } from '../../analyzer/analyzer-settings.ts';
import type { DemandRow } from '../../analyzer/demand.ts';
import { demandBuilds, demandHours, type DemandHours } from '../../core/templates/demand-hours.ts';
import { costsOf, defaultSpec, generateTrace, realisticSizes } from './trace-generator.ts';

/** The big installation's window: 28 days, 500k builds, thousands of teams with many optional extras. */
export function scaleHistory(): { rows: DemandRow[]; costs: Map<string, number> } {
  const spec = defaultSpec({ seed: 7, days: 28, teams: 6000, buildsPerDay: 22_000, zipf: 0.8, maxCore: 5, maxOptional: 5, optionalChance: 0.35, driftDays: [14], churnDays: 7 });
  return { rows: generateTrace(spec), costs: new Map(Object.entries(costsOf(spec.families))) };
}

/** The history folded as the service's SQL folds it: one row per combination and hour, at the hour's middle. */
export function hourFolded(rows: readonly DemandRow[]): DemandHours {
  const hours = new Map<string, DemandRow & { count: number }>();
  for (const r of rows) {
    const t = Math.floor(r.t / 3600) * 3600 + 1800;
    const key = `${t}|${r.root}|${r.components.join('+')}`;
    const h = hours.get(key) ?? hours.set(key, { root: r.root, components: r.components, t, count: 0 }).get(key)!;
    h.count++;
  }
  return demandHours(hours.values());
}

const peakMb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Written by a child process, so that generating half a million builds does not count in this process's peak memory. */
function writeHistory(file: string): void {
  const { rows, costs } = scaleHistory();
  const h = hourFolded(rows);
  writeFileSync(file, JSON.stringify({ costs: Object.fromEntries(costs), combos: h.combos, combo: [...h.combo], t: [...h.t], count: [...h.count] }));
}

function readHistory(file: string): { history: DemandHours; costs: Map<string, number> } {
  const j = JSON.parse(readFileSync(file, 'utf8')) as { costs: Record<string, number>; combos: DemandHours['combos']; combo: number[]; t: number[]; count: number[] };
  return { history: { combos: j.combos, combo: Int32Array.from(j.combo), t: Float64Array.from(j.t), count: Float64Array.from(j.count) }, costs: new Map(Object.entries(j.costs)) };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)]!.toFixed(1)} s (${s[0]!.toFixed(1)}–${s.at(-1)!.toFixed(1)})`;
};

export async function scaleBench(runs = 3): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-scale-'));
  const file = path.join(dir, 'history.json');
  execFileSync(process.execPath, [...process.execArgv, import.meta.filename, '--write-history', file], { stdio: 'inherit' });
  const { history, costs } = readHistory(file);
  rmSync(dir, { recursive: true, force: true });
  const maxLen = history.combos.reduce((n, c) => Math.max(n, c.components.length), 0);
  const opts: AnalysisOptions = {
    ...defaultAnalysisOptions(),
    sizes: new Map(Object.entries(realisticSizes)),
    now: history.t.reduce((n, t) => Math.max(n, t), 0) + 1800,
    windowSeconds: 28 * 86400,
    maxTemplates: 20,
    built: new Set(),
  };
  console.log(
    `scale: ${demandBuilds(history)} builds (${history.t.length} combination-hours), ${new Set(history.combos.map((c) => c.components.join('+'))).size} distinct combinations, up to ${maxLen} components, budget 20 templates`,
  );
  const before = peakMb();
  // As the service runs it, every time: the columns moved to a fresh worker thread, which aggregates, analyzes and
  // answers — so every run starts cold, as each analysis of the service does.
  const wall: number[] = [];
  const cpu: number[] = [];
  let last: Analysis | undefined;
  for (let r = 0; r < runs; r++) {
    const copy: DemandHours = { combos: history.combos, combo: history.combo.slice(), t: history.t.slice(), count: history.count.slice() };
    const [w0, c0] = [performance.now(), cpuSeconds()];
    last = await analyzeInWorker(copy, costs, opts);
    wall.push((performance.now() - w0) / 1000);
    cpu.push(cpuSeconds() - c0);
  }
  const peak = peakMb();
  console.log(`one analysis in the worker thread (start it, move the history, aggregate, mine ${last!.templates.candidates} candidates, score ${opts.halfLives.length} weightings, select, answer), ${runs} runs:`);
  console.log(`  wall ${stats(wall)}; CPU of the process ${stats(cpu)} (goal ≤ 10 s)`);
  console.log(`peak memory of this process: ${peak.toFixed(0)} MB (${before.toFixed(0)} MB before the analyses, holding the history as read; goal ≤ 500 MB)`);
  console.log(`chosen half-life ${(last!.halfLife / 86400).toFixed(0)} d; ${last!.templates.templates.length} templates`);
  const median = [...wall].sort((a, b) => a - b)[Math.floor(wall.length / 2)]!;
  if (median > 10 || peak > 500) process.exitCode = 1;
}

if (process.argv[2] === '--write-history') writeHistory(process.argv[3]!);

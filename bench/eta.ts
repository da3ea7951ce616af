// `npm run bench:eta [-- --trace FILE.jsonl] [--seed N] [--sensitivity]`: how close kiln's time estimates come. A
// history (by default the trace generator's, 60 days, with step timings from bench/analyzer/step-timings.ts; or a
// trace written by `npm run trace:generate -- --timings`) is replayed in submission order, each build estimated from
// the builds that had ended before it, and compared with what it took (start → pushed image): the median absolute
// percentage error and the share of builds inside the estimate's range, beside the catalog's estimate (what the form
// showed before), per route, and for builds that waited their wait and wait + run. `--sensitivity` repeats it with
// each generator setting halved and doubled (the estimator's own constants stay as they are).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { canonical } from './analyzer/layer-cache.ts';
import { costsOf, defaultSpec, generateTrace, realisticFamilies, realisticSizes } from './analyzer/trace-generator.ts';
import { defaultTimingSpec, timeTrace, type TimedBuild, type TimingSpec } from './analyzer/step-timings.ts';
import { replayEta, type ReplayScores, type Scores } from './eta/eta-replay.ts';

const { values } = parseArgs({
  options: {
    trace: { type: 'string' },
    seed: { type: 'string', default: '1' },
    sensitivity: { type: 'boolean', default: false },
  },
});

const costs = new Map(Object.entries(costsOf(realisticFamilies)));
const sizes = new Map(Object.entries(realisticSizes));
const order = (keys: string[]) => canonical(keys, costs);
const goal = { mape: 0.25, vsCatalog: 2 };

function timed(t: Partial<TimingSpec> = {}): { trace: TimedBuild[]; spec: TimingSpec } {
  const spec = defaultTimingSpec({ seed: Number(values.seed) * 7, ...t });
  return { trace: timeTrace(generateTrace(defaultSpec({ seed: Number(values.seed) })), costs, sizes, spec), spec };
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`.padStart(9);
const row = (name: string, s: Scores) => `  ${name.padEnd(34)}${String(s.builds).padStart(6)}  ${s.builds ? `${pct(s.mape)}  ${pct(s.inRange)}` : `${'—'.padStart(9)}  ${'—'.padStart(9)}`}`;

function report(r: ReplayScores): void {
  console.log(`  ${''.padEnd(34)}${'builds'.padStart(6)}  ${'median APE'.padStart(9)}  ${'in range'.padStart(9)}`);
  console.log(row('kiln, run (start → pushed image)', r.run));
  console.log(row("catalog's estimate, same builds", r.catalog));
  for (const [route, s] of Object.entries(r.byRoute)) {
    console.log(row(`  kiln, ${route}`, s));
    console.log(row(`    catalog, ${route}`, r.catalogByRoute[route]!));
  }
  console.log(row('kiln, queue wait (waited ≥ 60 s)', r.queue));
  console.log(row('  the drain rate alone', r.queueRate));
  console.log(row('kiln, wait + run (same builds)', r.total));
  const ratio = r.catalog.mape / r.run.mape;
  console.log(`  catalog error / kiln error: ${ratio.toFixed(1)}×   goal: median error ≤ ${goal.mape * 100} % and ≥ ${goal.vsCatalog}× better than the catalog: ${r.run.mape <= goal.mape && ratio >= goal.vsCatalog ? 'met' : 'NOT met'}`);
}

const concurrency = (s: TimingSpec) => s.hosts * s.slots;

if (values.trace) {
  const { parseJsonLines } = await import('./analyzer/trace-generator.ts');
  const trace = parseJsonLines(await readFile(values.trace, 'utf8')) as TimedBuild[];
  if (!trace.every((b) => Array.isArray(b.steps))) throw new Error(`${values.trace}: no step timings (make one with npm run trace:generate -- --timings)`);
  console.log(`\n=== ${values.trace}: ${trace.length} builds`);
  report(replayEta(trace, costs, order, { concurrency: concurrency(defaultTimingSpec()) }));
} else if (!values.sensitivity) {
  const { trace, spec } = timed();
  const routes = ['composed', 'template', 'install'].map((r) => `${trace.filter((b) => b.route === r).length} ${r}`).join(', ');
  console.log(`\n=== generated history (seed ${values.seed}): ${trace.length} builds over 60 days (${routes}), ${spec.hosts} hosts × ${spec.slots} slots`);
  report(replayEta(trace, costs, order, { concurrency: concurrency(spec) }));
} else {
  const base = defaultTimingSpec();
  const line = (label: string, t: Partial<TimingSpec>) => {
    const { trace, spec } = timed(t);
    const r = replayEta(trace, costs, order, { concurrency: concurrency(spec) });
    // A setting under which no build waited a minute has no queue figures (not NaN).
    const wait = r.queue.builds ? `${pct(r.queue.mape)} ${pct(r.queue.inRange)}` : '   (no build waited ≥ 60 s)';
    console.log(`  ${label.padEnd(30)} run ${pct(r.run.mape)} ${pct(r.run.inRange)}   catalog ${pct(r.catalog.mape)}   ×${(r.catalog.mape / r.run.mape).toFixed(1).padEnd(6)} wait ${wait}`);
  };
  console.log(`\nsensitivity to the generator's settings (seed ${values.seed}): median APE and in-range share of the run, the catalog's APE, the ratio, and the queue wait`);
  line('defaults', {});
  const numeric: (keyof TimingSpec)[] = ['noise', 'drift', 'shiftFactor', 'composableShare', 'hosts', 'slots', 'binarySpread', 'pushBytesPerSecond', 'cacheBytesPerHost', 'templateMinBuilds'];
  for (const key of numeric) {
    for (const f of [0.5, 2]) {
      const v = base[key] as number;
      const x = key === 'composableShare' ? Math.min(1, v * f) : key === 'hosts' || key === 'slots' || key === 'templateMinBuilds' ? Math.max(1, Math.round(v * f)) : v * f;
      line(`${key} ×${f} (${Number(x.toPrecision(3))})`, { [key]: x });
    }
  }
  line('no step change of speed', { shiftDay: null });
}

// `npm run bench:analyzer [-- --trace FILE.jsonl [--costs FILE.json]] [--budgets 5,10,20] [--storage-gib 10,25,50]
// [--hosts 4] [--template-share 0.5] [--period-hours 24] [--warmup-periods 1] [--composable-share 0.75] [--lead-days 0]
// [--composition-only]`: replays traces (by default every one in test/traces/) and prints, per trace, first the share of
// builds that never install (composed from component layers: built only when a build misses them, by kiln's planner
// ahead of demand, and by it within half of all layers' bytes), then per template budget every policy's net
// install-seconds saved, as a share of all install time and of the proven ceiling, and its runtime (`--composition-only`
// stops after the first part). `-- --scale` times one analysis on a large synthetic history instead; `-- --sensitivity`
// prints how kiln's share of the clairvoyant moves when each setting is halved or doubled. `-- --hourly [--budgets 5,10]`
// replays at the service's cadence (every hour) the held-out generated traces and those in test/traces/ (or --trace),
// with and without the hysteresis between runs: drop-and-re-add pairs within a week, templates built, net savings;
// `-- --hourly-sensitivity [--margins 0,0.02,0.05,0.1] [--hold-rebuilds 0,0.5,1,2] [--budgets 10]` prints them over
// those settings.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultAnalysisOptions } from '../analyzer/analyzer-settings.ts';
import { configSchema } from '../core/config.ts';
import type { Costs, HistoryBuild } from '../core/templates/savings.ts';
import { compositionTable } from './analyzer/composition-replay.ts';
import { heldOutShapes, heldOutTrace, hourlyTable, hysteresisSensitivity } from './analyzer/hourly-replay.ts';
import { parseJsonLines, realisticSizes } from './analyzer/trace-generator.ts';
import { policyTable, type PolicyTable } from './analyzer/policy-table.ts';
import { scaleBench } from './analyzer/scale.ts';
import { sensitivity } from './analyzer/sensitivity.ts';

const { values } = parseArgs({
  options: {
    trace: { type: 'string' },
    costs: { type: 'string' },
    budgets: { type: 'string', default: '5,10,20' },
    'storage-gib': { type: 'string', default: '10,25,50' },
    hosts: { type: 'string', default: '4' },
    'template-share': { type: 'string', default: '0.5' },
    'period-hours': { type: 'string', default: '24' },
    'warmup-periods': { type: 'string', default: '1' },
    'composable-share': { type: 'string', default: '0.75' },
    'lead-days': { type: 'string', default: '0' },
    'composition-only': { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    sensitivity: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    hourly: { type: 'boolean', default: false },
    'hourly-sensitivity': { type: 'boolean', default: false },
    margins: { type: 'string', default: '0,0.02,0.05,0.1' },
    'hold-rebuilds': { type: 'string', default: '0,0.5,1,2' },
  },
});
const list = (s: string) => s.split(',').map(Number);
const sizes = new Map(Object.entries(realisticSizes));

if (values.scale) {
  await scaleBench(Number(values.runs));
  process.exit(0);
}

const traceDir = path.resolve(import.meta.dirname, '../test/traces');
const traces = values.trace ? [values.trace] : (await readdir(traceDir)).filter((f) => f.endsWith('.jsonl')).map((f) => path.join(traceDir, f));
const load = async (file: string) => {
  const trace = parseJsonLines(await readFile(file, 'utf8'));
  const costFile = values.costs ?? file.replace(/\.jsonl$/, '') + '.costs.json';
  return { trace, costs: new Map(Object.entries(JSON.parse(await readFile(costFile, 'utf8')) as Record<string, number>)) };
};

if (values.sensitivity) {
  for (const file of traces) {
    const { trace, costs } = await load(file);
    console.log(`\ntrace ${path.basename(file)}: kiln / daily clairvoyant at 10 templates, each setting halved and doubled`);
    for (const line of await sensitivity(trace, costs, { sizes, periodSeconds: Number(values['period-hours']) * 3600 })) console.log(line);
  }
  process.exit(0);
}

if (values.hourly || values['hourly-sensitivity']) {
  const named = [
    ...Object.entries(heldOutShapes).map(([name, shape]) => ({ name: `held-out ${name}`, load: async () => heldOutTrace(shape) })),
    ...traces.map((file) => ({ name: path.basename(file), load: () => load(file) })),
  ];
  const budgets = values['budgets'] === '5,10,20' ? [5, 10] : list(values.budgets);
  for (const { name, load: get } of values.trace ? named.slice(-1) : named) {
    const { trace, costs } = await get();
    console.log(`
=== ${name}: ${trace.length} builds over ${((trace.at(-1)!.t - trace[0]!.t) / 86400).toFixed(0)} days; pairs: a template dropped and added again within 7 days (a rebuild each)`);
    const defaults = defaultAnalysisOptions();
    if (values.hourly) {
      console.log(`  before: no hysteresis between runs; after: half-life margin ${defaults.halfLifeMargin}, a losing template held until it has lost ${defaults.holdRebuilds ?? 0}× its rebuild (between runs less than ${(defaults.holdWithinSeconds ?? Infinity) / 3600} h apart)`);
      for (const line of hourlyTable(trace, costs, budgets)) console.log(line);
    }
    if (values['hourly-sensitivity']) {
      for (const k of budgets) for (const line of hysteresisSensitivity(trace, costs, k, list(values.margins), list(values['hold-rebuilds']))) console.log(line);
    }
  }
  process.exit(0);
}

const net = (s: number) => s.toFixed(0).padStart(11);
const frac = (a: number, b: number) => (b > 0 ? (a / b).toFixed(3) : '—').padStart(8);
for (const file of traces) {
  const { trace, costs } = await load(file);
  const days = (trace.at(-1)!.t - trace[0]!.t) / 86400;
  const distinct = new Set(trace.map((b) => `${b.root}|${[...b.components].sort().join('+')}`)).size;
  console.log(`\n=== trace ${path.basename(file)}: ${trace.length} builds over ${days.toFixed(0)} days, ${distinct} distinct combinations; analysis every ${values['period-hours']} h, the first ${values['warmup-periods']} period(s) every policy's history and nobody's score`);
  printComposition(trace, costs);
  if (values['composition-only']) continue;
  for (const k of list(values.budgets)) {
    const started = performance.now();
    const t = await policyTable(trace, costs, {
      maxTemplates: k,
      periodSeconds: Number(values['period-hours']) * 3600,
      windowSeconds: 28 * 86400,
      warmupPeriods: Number(values['warmup-periods']),
      storageSizes: list(values['storage-gib']).map((g) => g * 1024 ** 3),
      hosts: Number(values.hosts),
      templateShare: Number(values['template-share']),
      sizes,
    });
    printTable(t, k, Number(values.hosts), Number(values['template-share']), (performance.now() - started) / 1000);
  }
}

function printTable(t: PolicyTable, k: number, hosts: number, share: number, seconds: number) {
  const total = t.templatesOnly.none.totalSeconds;
  console.log(`\nbudget ${k} templates (${seconds.toFixed(1)} s)  net install-s  /installs  /ceiling  /clairv.  built  re-adds  runtime s`);
  const row = (name: string, saved: number, r?: { templatesBuilt: number; rebuilds: number; runtimeSeconds: number }, bounded = true) =>
    console.log(
      `  ${name.padEnd(34)}${net(saved)} ${frac(saved, total)}  ${bounded ? frac(saved, t.ceiling) : '       —'}  ${bounded ? frac(saved, t.templatesOnly.clairvoyant.netSeconds) : '       —'}` +
        (r ? `  ${(Number.isNaN(r.templatesBuilt) ? '—' : String(r.templatesBuilt)).padStart(5)}  ${(Number.isNaN(r.rebuilds) ? '—' : String(r.rebuilds)).padStart(7)}  ${r.runtimeSeconds.toFixed(1).padStart(9)}` : ''),
    );
  const o = t.templatesOnly;
  for (const r of [o.topK, o.greedy, o.kiln, o.clairvoyant]) row(r.policy, r.netSeconds, r);
  row('true ceiling (LP relaxation)', t.ceiling, { templatesBuilt: NaN, rebuilds: NaN, runtimeSeconds: t.ceilingSeconds });
  // With a layer cache the LP (templates only) bounds nothing: those rows are shares of the bound that holds for them.
  const cacheRow = (name: string, r: PolicyTable['storage'][number]['kiln']) =>
    console.log(`  ${name.padEnd(34)}${net(r.netSeconds)} ${frac(r.netSeconds, total)}  ${frac(r.netSeconds, t.cacheCeiling)}*        —  ${String(r.templatesBuilt).padStart(5)}  ${String(r.rebuilds).padStart(7)}  ${r.runtimeSeconds.toFixed(1).padStart(9)}`);
  for (const s of t.storage) {
    const gib = s.bytesPerHost / 1024 ** 3;
    cacheRow(`layer cache only, ${hosts} × ${gib} GiB`, s.layerCache);
    cacheRow(`kiln + layer cache, ${hosts} × ${gib} GiB`, s.kiln);
  }
  console.log(`  ${'ceiling with a layer cache *'.padEnd(34)}${net(t.cacheCeiling)} ${frac(t.cacheCeiling, total)}     1.000`);
  console.log(`  (templates under kiln + layer cache: at most ${share} of each host's storage; the rest is its cache. * share of the ceiling with a layer cache: every install spared but one of each component no warm-up build installed — a proven bound, loose)`);
}

function printComposition(trace: HistoryBuild[], costs: Costs) {
  const started = performance.now();
  const analysis = defaultAnalysisOptions();
  const share = Number(values['composable-share']);
  const c = compositionTable(trace, costs, {
    periodSeconds: Number(values['period-hours']) * 3600,
    warmupPeriods: Number(values['warmup-periods']),
    composableShare: share,
    shares: [0.5, 0.75, 1],
    seed: 1,
    draws: 10,
    leadSeconds: Number(values['lead-days']) * 86400,
    sizes,
    defaultSizeBytes: analysis.defaultSizeBytes,
    halfLifeSeconds: analysis.defaultHalfLife,
    // The service's default (KILN_PREVERIFY_MAX).
    preverifyMax: configSchema.shape.KILN_PREVERIFY_MAX.parse(undefined),
  });
  const gb = (b: number) => (b / 1e9).toFixed(1);
  const lead = Number(values['lead-days']) > 0 ? `${values['lead-days']} day(s) before its first build` : 'at its first build (so that build installs)';
  console.log(
    `\ncomposition (${((performance.now() - started) / 1000).toFixed(1)} s): the share of builds that never install. ${c.composable.length} of ${c.families} families compose ` +
      `(${c.composable.join(', ')}: --composable-share ${share}, seed 1); a version enters the catalog ${lead}; a layers job starts when queued and ` +
      `builds its missing layers one after another, each in its component's install seconds; every combination verifies`,
  );
  console.log(`  ${'policy'.padEnd(38)}   composed / builds    share   install-s left  /all install  builds verified  layers built  layer-build s  layers GB`);
  for (const r of c.rows) {
    const name = r.policy.endsWith('half the bytes') ? `kiln prebuild, budget ${gb(c.budgetBytes)} GB (half)` : r.policy;
    console.log(
      `  ${name.padEnd(38)} ${String(r.composed).padStart(9)} / ${String(r.builds).padEnd(6)} ${(r.composed / r.builds).toFixed(3).padStart(7)}  ${r.installSeconds.toFixed(0).padStart(15)}  ${(r.installSeconds / r.totalSeconds).toFixed(3).padStart(12)}` +
        `  ${String(r.verifiedOnBuild).padStart(15)}  ${String(r.layersBuilt).padStart(12)}  ${r.layerSeconds.toFixed(0).padStart(13)}  ${gb(r.layerBytes).padStart(9)}`,
    );
  }
  const top = c.rows[1]!;
  console.log(`  ${'ceiling: every layer always ready'.padEnd(38)} ${String(top.composable).padStart(9)} / ${String(top.builds).padEnd(6)} ${(top.composable / top.builds).toFixed(3).padStart(7)}`);
  console.log(
    `  (install-s left: every component of the builds that install, at full cost — no templates, no layer cache here; ` +
      `builds verified: composed builds that verified their combination first; layers built and layer-build s: queued after the warm-up; layers GB: all layers at the end; ` +
      `all layers would take ${gb(c.allBytes)} GB)`,
  );
  for (const s of c.sensitivity) {
    const d = s.draws;
    console.log(
      `  composable share ${s.share.toFixed(2)}: on demand ${s.onDemand.toFixed(3)}, kiln ${s.kiln.toFixed(3)}, ceiling ${s.ceiling.toFixed(3)} (${s.composable.length} of ${c.families} families)` +
        (d.min === d.max ? '' : `; kiln over 10 other draws of the families: mean ${d.mean.toFixed(3)}, ${d.min.toFixed(3)}–${d.max.toFixed(3)}`),
    );
  }
}

// `npm run bench:analyzer [-- --trace FILE.jsonl [--costs FILE.json]] [--budgets 5,10,20] [--storage-gib 10,25,50]
// [--hosts 4] [--template-share 0.5] [--period-hours 24] [--warmup-periods 1]`: replays traces (by default every one in test/traces/)
// and prints, per trace and template budget, every policy's net install-seconds saved, as a share of all install time and
// of the proven ceiling, and its runtime. `-- --scale` times one analysis on a large synthetic history instead;
// `-- --sensitivity` prints how kiln's share of the clairvoyant moves when each setting is halved or doubled.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
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
    scale: { type: 'boolean', default: false },
    sensitivity: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
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

const net = (s: number) => s.toFixed(0).padStart(11);
const frac = (a: number, b: number) => (b > 0 ? (a / b).toFixed(3) : '—').padStart(8);
for (const file of traces) {
  const { trace, costs } = await load(file);
  const days = (trace.at(-1)!.t - trace[0]!.t) / 86400;
  const distinct = new Set(trace.map((b) => `${b.root}|${[...b.components].sort().join('+')}`)).size;
  console.log(`\n=== trace ${path.basename(file)}: ${trace.length} builds over ${days.toFixed(0)} days, ${distinct} distinct combinations; analysis every ${values['period-hours']} h, the first ${values['warmup-periods']} period(s) every policy's history and nobody's score`);
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
  for (const s of t.storage) {
    const gib = s.bytesPerHost / 1024 ** 3;
    row(`layer cache only, ${hosts} × ${gib} GiB`, s.layerCache.netSeconds, s.layerCache, false);
    row(`kiln + layer cache, ${hosts} × ${gib} GiB`, s.kiln.netSeconds, s.kiln, false);
  }
  console.log(`  (templates under kiln + layer cache: at most ${share} of each host's storage; the rest is its cache)`);
}

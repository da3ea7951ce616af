// `npm run trace:generate -- --out test/traces/NAME.jsonl [--seed N --days N --per-day N --teams N --zipf X
// --drift-days 30,45 --drift X --churn-days N --weekend X --bursts X] [--timings]`: writes a synthetic trace and,
// beside it, its cost file (NAME.costs.json). `--timings` adds to each build what kiln would have recorded of it
// (route, queue wait, steps by kind with seconds and bytes: bench/analyzer/step-timings.ts), for `npm run bench:eta`.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { costsOf, defaultSpec, generateTrace, realisticSizes, toJsonLines } from './trace-generator.ts';
import { defaultTimingSpec, timeTrace } from './step-timings.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    seed: { type: 'string' },
    days: { type: 'string' },
    'per-day': { type: 'string' },
    teams: { type: 'string' },
    zipf: { type: 'string' },
    'drift-days': { type: 'string' },
    drift: { type: 'string' },
    'churn-days': { type: 'string' },
    weekend: { type: 'string' },
    bursts: { type: 'string' },
    timings: { type: 'boolean', default: false },
  },
});
if (!values.out) throw new Error('--out FILE.jsonl is required');
const spec = defaultSpec({
  ...(values.seed && { seed: Number(values.seed) }),
  ...(values.days && { days: Number(values.days) }),
  ...(values['per-day'] && { buildsPerDay: Number(values['per-day']) }),
  ...(values.teams && { teams: Number(values.teams) }),
  ...(values.zipf && { zipf: Number(values.zipf) }),
  ...(values['drift-days'] && { driftDays: values['drift-days'].split(',').map(Number) }),
  ...(values.drift && { driftFraction: Number(values.drift) }),
  ...(values['churn-days'] && { churnDays: Number(values['churn-days']) }),
  ...(values.weekend && { weekendShare: Number(values.weekend) }),
  ...(values.bursts && { burstChance: Number(values.bursts) }),
});
const generated = generateTrace(spec);
const costs = new Map(Object.entries(costsOf(spec.families)));
const trace = values.timings ? timeTrace(generated, costs, new Map(Object.entries(realisticSizes)), defaultTimingSpec({ seed: spec.seed * 7 })) : generated;
await writeFile(values.out, toJsonLines(trace));
await writeFile(values.out.replace(/\.jsonl$/, '') + '.costs.json', JSON.stringify(costsOf(spec.families), null, 2) + '\n');
console.log(`wrote ${trace.length} builds to ${values.out}`);

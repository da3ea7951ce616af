// `npm run trace:generate -- --out test/traces/NAME.jsonl [--seed N --days N --per-day N --teams N --zipf X
// --drift-days 30,45 --drift X --churn-days N --weekend X --bursts X]`: writes a synthetic trace and, beside it, its
// cost file (NAME.costs.json).
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { costsOf, defaultSpec, generateTrace, toJsonLines } from './trace-generator.ts';

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
const trace = generateTrace(spec);
await writeFile(values.out, toJsonLines(trace));
await writeFile(values.out.replace(/\.jsonl$/, '') + '.costs.json', JSON.stringify(costsOf(spec.families), null, 2) + '\n');
console.log(`wrote ${trace.length} builds to ${values.out}`);

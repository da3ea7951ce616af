// `npm run trace:generate -- --out test/traces/NAME.jsonl [--seed N --days N --per-day N --envs N --zipf X
// --drift-days N --drift X]`: writes a synthetic trace and, beside it, its cost file (NAME.costs.json).
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { generateTrace, realisticCosts, toJsonLines } from './trace-generator.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    seed: { type: 'string', default: '1' },
    days: { type: 'string', default: '60' },
    'per-day': { type: 'string', default: '40' },
    envs: { type: 'string', default: '30' },
    zipf: { type: 'string', default: '1.1' },
    'drift-days': { type: 'string', default: '14' },
    drift: { type: 'string', default: '0.3' },
  },
});
if (!values.out) throw new Error('--out FILE.jsonl is required');
const trace = generateTrace({
  seed: Number(values.seed),
  days: Number(values.days),
  buildsPerDay: Number(values['per-day']),
  environments: Number(values.envs),
  zipf: Number(values.zipf),
  driftDays: Number(values['drift-days']),
  driftFraction: Number(values.drift),
  costs: realisticCosts,
});
await writeFile(values.out, toJsonLines(trace));
await writeFile(values.out.replace(/\.jsonl$/, '') + '.costs.json', JSON.stringify(realisticCosts, null, 2) + '\n');
console.log(`wrote ${trace.length} builds to ${values.out}`);

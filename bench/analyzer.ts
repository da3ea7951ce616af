// `npm run bench:analyzer [-- --trace FILE.jsonl [--costs FILE.json] [--max-templates N]]`: replays traces through
// the service's own selector and simpler policies and prints install seconds, savings, and kiln's share of the
// oracle's. Without --trace it replays every trace shipped in test/traces/.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { defaultSelectOptions } from '../analyzer/analyzer-settings.ts';
import { parseJsonLines, realisticSizes } from './analyzer/trace-generator.ts';
import { comparePolicies, type ReplayOptions } from './analyzer/trace-replay.ts';

const { values } = parseArgs({
  options: {
    trace: { type: 'string' },
    costs: { type: 'string' },
    'max-templates': { type: 'string', default: '10' },
    'period-hours': { type: 'string', default: '24' },
    // The layer-cache baseline: builder hosts and the layer cache each keeps.
    hosts: { type: 'string', default: '4' },
    'cache-gib': { type: 'string', default: '10' },
  },
});

const traceDir = path.resolve(import.meta.dirname, '../test/traces');
const traces = values.trace ? [values.trace] : (await readdir(traceDir)).filter((f) => f.endsWith('.jsonl')).map((f) => path.join(traceDir, f));

const hours = (s: number) => (s / 3600).toFixed(0).padStart(8);
for (const file of traces) {
  const trace = parseJsonLines(await readFile(file, 'utf8'));
  const costFile = values.costs ?? file.replace(/\.jsonl$/, '') + '.costs.json';
  const costs = new Map(Object.entries(JSON.parse(await readFile(costFile, 'utf8')) as Record<string, number>));
  const maxTemplates = Number(values['max-templates']);
  const sizes = new Map(Object.entries(realisticSizes));
  const opts: ReplayOptions = {
    periodSeconds: Number(values['period-hours']) * 3600,
    windowSeconds: 28 * 86400,
    maxTemplates,
    select: { ...defaultSelectOptions(), sizes },
  };
  const started = performance.now();
  const results = comparePolicies(trace, costs, opts, {
    hosts: Number(values.hosts),
    cacheBytesPerHost: Number(values['cache-gib']) * 1024 ** 3,
    sizes,
    defaultSizeBytes: 512 * 1024 ** 2,
    binaryBytes: 100 * 1024 ** 2,
  });

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`\ntrace ${path.basename(file)}: ${trace.length} builds, budget ${maxTemplates} templates, analysis every ${values['period-hours']} h; layer cache: ${values.hosts} hosts × ${values['cache-gib']} GiB (replayed in ${seconds} s)`);
  console.log('policy                          install h    saved h  templates h      net h   net/total');
  for (const r of results) {
    console.log(
      `${r.policy.padEnd(30)} ${hours(r.totalSeconds - r.savedSeconds)}   ${hours(r.savedSeconds)}   ${hours(r.templateSeconds)}   ${hours(r.netSeconds)}   ${((100 * r.netSeconds) / r.totalSeconds).toFixed(1).padStart(6)} %`,
    );
  }
  const kiln = results[3]!;
  const oracle = results[4]!;
  const topK = results[2]!;
  const layer = results[1]!;
  console.log(
    `kiln / oracle (net savings): ${(kiln.netSeconds / oracle.netSeconds).toFixed(3)}   kiln / top-K: ${(kiln.netSeconds / topK.netSeconds).toFixed(2)}×   kiln / layer cache: ${(kiln.netSeconds / layer.netSeconds).toFixed(2)}×`,
  );
}

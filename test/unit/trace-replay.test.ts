import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { defaultSelectOptions } from '../../analyzer/analyzer-settings.ts';
import { parseJsonLines, realisticSizes } from '../../bench/analyzer/trace-generator.ts';
import { comparePolicies, replayLayerCache } from '../../bench/analyzer/trace-replay.ts';

const dir = path.resolve(import.meta.dirname, '../traces');
const sizes = new Map(Object.entries(realisticSizes));

describe('trace replay', () => {
  for (const name of ['zipf-drift', 'steady-teams']) {
    it(`on ${name}: kiln saves more than top-K and the layer cache, and no more than it could`, async () => {
      const trace = parseJsonLines(await readFile(path.join(dir, `${name}.jsonl`), 'utf8'));
      const costs = new Map(Object.entries(JSON.parse(await readFile(path.join(dir, `${name}.costs.json`), 'utf8')) as Record<string, number>));
      const [none, layer, topK, kiln, oracle] = comparePolicies(
        trace,
        costs,
        { periodSeconds: 86400, windowSeconds: 28 * 86400, maxTemplates: 10, select: { ...defaultSelectOptions(), sizes } },
        { hosts: 4, cacheBytesPerHost: 10 * 1024 ** 3, sizes, defaultSizeBytes: 512 * 1024 ** 2, binaryBytes: 100 * 1024 ** 2 },
      );
      assert.equal(none!.savedSeconds, 0);
      assert.ok(kiln!.netSeconds > topK!.netSeconds, `kiln ${kiln!.netSeconds} vs top-K ${topK!.netSeconds}`);
      assert.ok(kiln!.netSeconds > layer!.netSeconds, `kiln ${kiln!.netSeconds} vs layer cache ${layer!.netSeconds}`);
      assert.ok(kiln!.netSeconds / oracle!.netSeconds > 0.9, `kiln reaches ${kiln!.netSeconds / oracle!.netSeconds} of the oracle`);
      assert.ok(kiln!.savedSeconds <= kiln!.totalSeconds);
    });
  }

  it('the layer cache reuses only a shared prefix, on the same host', () => {
    const costs = new Map([['a@1', 100], ['b@1', 10]]);
    const trace = [
      { t: 0, root: 'r', components: ['a@1', 'b@1'] },
      { t: 1, root: 'r', components: ['a@1'] }, // other host: nothing cached there
      { t: 2, root: 'r', components: ['b@1', 'a@1'] }, // host 0 again: whole prefix cached
    ];
    const r = replayLayerCache(trace, costs, { hosts: 2, cacheBytesPerHost: 1e12, sizes: new Map(), defaultSizeBytes: 1, binaryBytes: 1 });
    assert.equal(r.totalSeconds, 320);
    assert.equal(r.savedSeconds, 110);
  });
});

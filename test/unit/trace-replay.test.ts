import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { defaultAnalysisOptions } from '../../analyzer/analyzer-settings.ts';
import { exactOptimum, lpCeiling } from '../../bench/analyzer/ceiling.ts';
import { LayerCache } from '../../bench/analyzer/layer-cache.ts';
import { policyTable } from '../../bench/analyzer/policy-table.ts';
import { costsOf, defaultSpec, generateTrace, parseJsonLines, realisticSizes } from '../../bench/analyzer/trace-generator.ts';
import { periods, policies, replay, type ReplayOptions } from '../../bench/analyzer/trace-replay.ts';
import type { HistoryBuild } from '../../core/templates/savings.ts';

const dir = path.resolve(import.meta.dirname, '../traces');
const sizes = new Map(Object.entries(realisticSizes));
const DAY = 86400;

describe('trace replay', () => {
  for (const name of ['team-drift', 'zipf-drift', 'steady-teams']) {
    it(`on ${name}: kiln beats every baseline at equal storage, and no policy passes the ceiling`, async () => {
      const trace = parseJsonLines(await readFile(path.join(dir, `${name}.jsonl`), 'utf8'));
      const costs = new Map(Object.entries(JSON.parse(await readFile(path.join(dir, `${name}.costs.json`), 'utf8')) as Record<string, number>));
      const t = await policyTable(trace, costs, {
        maxTemplates: 10,
        periodSeconds: DAY,
        windowSeconds: 28 * DAY,
        warmupPeriods: 1,
        storageSizes: [10, 25, 50].map((g) => g * 1024 ** 3),
        hosts: 4,
        templateShare: 0.5,
        sizes,
      });
      const o = t.templatesOnly;
      assert.equal(o.none.savedSeconds, 0);
      for (const base of [o.topK, o.greedy]) assert.ok(o.kiln.netSeconds >= base.netSeconds, `kiln ${o.kiln.netSeconds} < ${base.policy} ${base.netSeconds}`);
      for (const r of [o.topK, o.greedy, o.kiln, o.clairvoyant]) assert.ok(r.netSeconds <= t.ceiling + 1e-6, `${r.policy} ${r.netSeconds} passes the ceiling ${t.ceiling}`);
      for (const s of t.storage) {
        const at = `at ${s.bytesPerHost / 1024 ** 3} GiB per host: kiln + cache ${s.kiln.netSeconds} vs cache ${s.layerCache.netSeconds}`;
        for (const r of [s.kiln, s.layerCache]) assert.ok(r.netSeconds <= t.cacheCeiling + 1e-6, `${r.policy} ${at} passes the ceiling with a cache ${t.cacheCeiling}`);
        // Known gap, documented in the README: where the cache alone already serves 86–98 % of install time (50 GiB per
        // host here), kiln + cache loses up to 1 % of install time here (1.6 % on fresh traces) — builds FROM a
        // template start new layer chains the cache must fill again, which kiln has no measure of; this bounds it, so
        // that it cannot grow unnoticed.
        if (s.bytesPerHost >= 50 * 1024 ** 3) assert.ok(s.kiln.netSeconds >= s.layerCache.netSeconds - 0.02 * o.none.totalSeconds, at);
        else assert.ok(s.kiln.netSeconds >= s.layerCache.netSeconds, at);
      }
    });
  }

  it('the LP ceiling is at least the exact optimum, which is at least every policy, on small traces', async () => {
    const costs = new Map([['a@1', 100], ['b@1', 40], ['c@1', 10]]);
    let seed = 3;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 8; trial++) {
      const trace: HistoryBuild[] = [];
      for (let day = 0; day < 3; day++) {
        for (let i = 0; i < 4; i++) {
          const set = ['a@1', 'b@1', 'c@1'].filter(() => rand() < 0.6);
          if (set.length) trace.push({ t: day * DAY + i * 3600, root: 'r', components: set });
        }
      }
      const o = { periodSeconds: DAY, maxTemplates: 1 + (trial % 2) };
      const exact = exactOptimum(trace, costs, o);
      const lp = await lpCeiling(trace, costs, o);
      assert.ok(lp >= exact - 1e-6, `trial ${trial}: LP ${lp} < exact ${exact}`);
      const opts: ReplayOptions = { ...o, windowSeconds: 28 * DAY, analysis: { ...defaultAnalysisOptions(), minSupport: 1, minTemplateSeconds: 0 } };
      for (const p of [policies.topK(o.maxTemplates), policies.greedy(costs, opts), policies.kiln(costs, opts), policies.clairvoyant(costs, opts)]) {
        const r = replay('p', trace, costs, p, opts);
        assert.ok(r.netSeconds <= exact + 1e-6, `trial ${trial}: a policy nets ${r.netSeconds} > exact optimum ${exact}`);
      }
    }
  });

  it('adapts within two days of a drift it never saw coming', () => {
    // Half of the teams switch environments on day 30; kiln's daily savings must be back within 10% of the
    // clairvoyant's by day 32 and stay there on average over the following week.
    const spec = defaultSpec({ seed: 11, days: 40, driftDays: [30], driftFraction: 0.6, churnDays: 0 });
    const trace = generateTrace(spec);
    const costs = new Map(Object.entries(costsOf(spec.families)));
    const opts: ReplayOptions = { periodSeconds: DAY, windowSeconds: 28 * DAY, maxTemplates: 10, analysis: { ...defaultAnalysisOptions(), sizes } };
    const daily = (p: ReturnType<typeof policies.kiln>) => {
      const perDay: number[] = [];
      for (const { start, builds } of periods(trace, DAY)) {
        const upTo = trace.filter((b) => b.t < start + DAY);
        perDay.push(replay('p', upTo, costs, p, opts).savedSeconds - (perDay.reduce((a, b) => a + b, 0)));
        void builds;
      }
      return perDay;
    };
    const kiln = daily(policies.kiln(costs, opts));
    const best = daily(policies.clairvoyant(costs, opts));
    const week = (xs: number[]) => xs.slice(32, 39).reduce((a, b) => a + b, 0);
    assert.ok(week(kiln) >= 0.9 * week(best), `days 32–38: kiln saved ${week(kiln)} s, the clairvoyant ${week(best)} s`);
  });

  it('the layer cache reuses only a shared prefix, on the same host, and gives way to templates', () => {
    const costs = new Map([['a@1', 100], ['b@1', 10]]);
    const cache = new LayerCache({ hosts: 2, bytesPerHost: 1e12, sizes: new Map(), defaultSizeBytes: 1, binaryBytes: 1 });
    assert.equal(cache.build('r', ['a@1', 'b@1'], costs).saved, 0);
    assert.equal(cache.build('r', ['a@1'], costs).saved, 0, 'other host: nothing cached there');
    assert.deepEqual(cache.build('r', ['b@1', 'a@1'], costs), { saved: 110, cached: ['a@1', 'b@1'] }, 'host 0 again: whole prefix cached');
    cache.setTemplateBytes(1e12);
    assert.equal(cache.build('r', ['a@1'], costs).saved, 0, 'templates took all the storage: no cache left');
  });
});

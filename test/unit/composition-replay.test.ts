import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { allLayerBytes, composableFamilies, compositionReplay, traceCatalog, type CompositionOptions } from '../../bench/analyzer/composition-replay.ts';
import { parseJsonLines, realisticSizes } from '../../bench/analyzer/trace-generator.ts';
import type { HistoryBuild } from '../../core/templates/savings.ts';

const DAY = 86400;
const MiB = 1024 ** 2;
const costs = new Map([['a@1', 600], ['a@2', 600], ['b@1', 300], ['c@1', 200], ['n@1', 100], ['gcc@1', 3600], ['gcc@2', 3600], ['cuda@1', 1200]]);
const build = (t: number, ...components: string[]): HistoryBuild => ({ t, root: 'r', components });
const opts = (composable: string[], over: Partial<CompositionOptions> = {}): CompositionOptions => ({
  periodSeconds: DAY,
  windowSeconds: 28 * DAY,
  warmupPeriods: 1,
  composable: new Set(composable),
  sizes: new Map([...costs.keys()].map((k) => [k, 512 * MiB])),
  defaultSizeBytes: 512 * MiB,
  halfLifeSeconds: 14 * DAY,
  preverifyMax: 20,
  ...over,
});
const onDemand = { name: 'on demand', prebuild: false };
const kiln = { name: 'kiln', prebuild: true };

describe('composition replay', () => {
  it("a build whose layer the last analysis prebuilt composes; with layers on demand only it installs, and queues it for the next", () => {
    // Day 0 (history): b@1 only ever comes with n@1, which does not compose, so no build queues b@1's layer.
    const trace = [build(0, 'a@1'), build(3600, 'b@1', 'n@1'), build(DAY + 10 * 3600, 'b@1'), build(DAY + 12 * 3600, 'b@1')];
    const k = compositionReplay(trace, costs, kiln, opts(['a', 'b']));
    const d = compositionReplay(trace, costs, onDemand, opts(['a', 'b']));
    assert.equal(k.builds, 2, 'the first day is not scored');
    assert.equal(k.composed, 2);
    assert.equal(d.composed, 1, 'the first b@1 build installs and queues its layer; the second composes');
    assert.equal(d.installSeconds, 300);
    assert.equal(k.installSeconds, 0);
    assert.equal(k.verifiedOnBuild, 1, 'the first composed build of a combination verifies it');
  });

  it('a layer stands on the bases its requires need: cuda on gcc@1 does not serve cuda with gcc@2', () => {
    const trace = [build(0, 'cuda@1', 'gcc@1'), build(10, 'gcc@2'), build(DAY + 10 * 3600, 'cuda@1', 'gcc@2')];
    const catalog = traceCatalog(trace, costs, new Set(['cuda', 'gcc']));
    assert.deepEqual(catalog.components.get('cuda')!.versions.get('1')!.requires, [{ component: 'gcc' }]);
    assert.equal(allLayerBytes(catalog, opts([])), 4 * 512 * MiB, 'gcc@1, gcc@2, cuda@1 on each');
    assert.equal(compositionReplay(trace, costs, onDemand, opts(['cuda', 'gcc'])).composed, 0);
    assert.equal(compositionReplay(trace, costs, kiln, opts(['cuda', 'gcc'])).composed, 1);
    // The planner proposes cuda on gcc even when gcc does not compose; the layers job skips that, and so does the replay.
    const cudaOnly = compositionReplay(trace, costs, kiln, opts(['cuda']));
    assert.equal(cudaOnly.layerBytes, 0);
    assert.equal(allLayerBytes(traceCatalog(trace, costs, new Set(['cuda'])), opts([])), 0);
  });

  it('a version first seen today cannot compose on its first build; added two days ahead, kiln has its layer ready', () => {
    const trace = [build(0, 'a@1'), build(DAY + 3600, 'a@1'), build(3 * DAY + 10 * 3600, 'a@2'), build(3 * DAY + 11 * 3600, 'a@2')];
    const first = (r: { composed: number; builds: number }) => r.builds - r.composed;
    const today = compositionReplay(trace, costs, kiln, opts(['a']));
    assert.equal(today.composed, 2, 'a@1, and a@2 once the layer its first build queued is ready');
    assert.equal(first(today), 1);
    const ahead = compositionReplay(trace, costs, kiln, opts(['a'], { leadSeconds: 2 * DAY }));
    assert.equal(ahead.composed, 3);
    assert.equal(compositionReplay(trace, costs, onDemand, opts(['a'], { leadSeconds: 2 * DAY })).composed, 2, 'on demand, the lead time does not help');
  });

  it('the byte budget limits what is prebuilt: the least used layer is left to its build', () => {
    // Every day-0 build has n@1 (not composable): no layer exists before the first analysis. a is used most, c least.
    const day0 = [build(0, 'n@1', 'a@1'), build(60, 'n@1', 'a@1'), build(120, 'n@1', 'a@1'), build(180, 'n@1', 'b@1'), build(240, 'n@1', 'b@1'), build(300, 'n@1', 'c@1')];
    const trace = [...day0, build(DAY + 10 * 3600, 'a@1'), build(DAY + 10 * 3600 + 1, 'b@1'), build(DAY + 10 * 3600 + 2, 'c@1')];
    const all = compositionReplay(trace, costs, kiln, opts(['a', 'b', 'c']));
    // Layers never built are estimated at 512 MiB each by the planner (and are that size here): two fit.
    const within = compositionReplay(trace, costs, { ...kiln, budgetBytes: 1100 * MiB }, opts(['a', 'b', 'c']));
    assert.equal(all.composed, 3);
    assert.equal(within.composed, 2);
    assert.equal(within.installSeconds, costs.get('c@1'), 'c@1, the least used, installs');
    assert.equal(within.layersBuilt, 3, "c@1's build queued its layer");
  });

  it('the composable families: none at share 0, all at 1, and a larger share keeps what a smaller one chose', () => {
    const keys = [...costs.keys()];
    assert.equal(composableFamilies(keys, 0, 1).size, 0);
    assert.equal(composableFamilies(keys, 1, 1).size, new Set(keys.map((k) => k.split('@')[0])).size);
    for (let seed = 1; seed < 20; seed++) {
      const half = composableFamilies(keys, 0.5, seed);
      const more = composableFamilies(keys, 0.75, seed);
      assert.ok([...half].every((f) => more.has(f)), `seed ${seed}`);
    }
  });

  for (const name of ['steady-teams', 'team-drift', 'zipf-drift']) {
    it(`on ${name}: prebuilding composes more than layers on demand do, nothing passes the ceiling, and at composable share 0 nothing composes`, async () => {
      const dir = path.resolve(import.meta.dirname, '../traces');
      const trace = parseJsonLines(await readFile(path.join(dir, `${name}.jsonl`), 'utf8'));
      const traceCosts = new Map(Object.entries(JSON.parse(await readFile(path.join(dir, `${name}.costs.json`), 'utf8')) as Record<string, number>));
      const keys = trace.flatMap((b) => b.components);
      const o = (share: number) => opts([...composableFamilies(keys, share, 1)], { sizes: new Map(Object.entries(realisticSizes)) });
      const d = compositionReplay(trace, traceCosts, onDemand, o(0.75));
      const k = compositionReplay(trace, traceCosts, kiln, o(0.75));
      const b = compositionReplay(trace, traceCosts, { ...kiln, budgetBytes: allLayerBytes(traceCatalog(trace, traceCosts, o(0.75).composable), o(0.75)) / 2 }, o(0.75));
      assert.ok(d.composed > 0, 'some builds compose on demand');
      for (const r of [k, b]) assert.ok(r.composed >= d.composed, `${r.policy}${r === b ? ' (budget)' : ''} ${r.composed} < on demand ${d.composed}`);
      // Here some build finds its layers only because they were built ahead (a component first asked for after the
      // first day, or cuda on the other gcc).
      assert.ok(k.composed > d.composed, `kiln ${k.composed}, on demand ${d.composed}`);
      for (const r of [d, k, b]) assert.ok(r.composed <= r.composable, `${r.composed} passes the ceiling ${r.composable}`);
      assert.ok(k.installSeconds <= d.installSeconds, 'every build composed on demand is composed with prebuilding too');
      assert.equal(compositionReplay(trace, traceCosts, kiln, o(0)).composed, 0);
      assert.ok(compositionReplay(trace, traceCosts, kiln, o(1)).composed > k.composed, 'more families composing, more builds composed');
    });
  }
});

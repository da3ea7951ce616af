// The analyzer at the service's cadence (an analysis every hour) on a held-out trace: its template set must not drop a
// template and add it back within a week (each re-add is a template rebuild) more than a few times, and the hysteresis
// that prevents it must not cost savings. Seed 808 was not among the traces the hysteresis constants were chosen on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseHalfLife, holds, horizonSeconds, rent, type AnalysisState, type Held } from '../../analyzer/analysis.ts';
import { previousAnalysis, recordedHeld } from '../../analyzer/analysis-memory.ts';
import { aggregateDemand } from '../../analyzer/demand.ts';
import { defaultAnalysisOptions } from '../../analyzer/analyzer-settings.ts';
import { selectTemplates } from '../../analyzer/template-selector.ts';
import { costsOf, defaultSpec, generateTrace, realisticSizes } from '../../bench/analyzer/trace-generator.ts';
import { policies, replay, type ReplayOptions } from '../../bench/analyzer/trace-replay.ts';
import { setKey, type HistoryBuild } from '../../core/templates/savings.ts';

const HOUR = 3600;
const DAY = 86400;

describe('hourly analysis', () => {
  it('drops and re-adds a template within a week at most 5 times at K=10, netting within 1 % of no hysteresis', () => {
    const spec = defaultSpec({ seed: 808, days: 30 });
    const trace = generateTrace(spec);
    const costs = new Map(Object.entries(costsOf(spec.families)));
    const run = (analysis: ReplayOptions['analysis']) => {
      const opts: ReplayOptions = { periodSeconds: HOUR, windowSeconds: 28 * DAY, maxTemplates: 10, warmupPeriods: 24, analysis };
      return replay('kiln', trace, costs, policies.kiln(costs, opts), opts);
    };
    const base = { ...defaultAnalysisOptions(), sizes: new Map(Object.entries(realisticSizes)) };
    // Today's policy before the hysteresis between runs, and the service's defaults, in the same process.
    const before = run({ ...base, halfLifeMargin: 0, holdRebuilds: 0 });
    const after = run(base);
    const seen = `pairs ${before.rebuilds} → ${after.rebuilds}, templates built ${before.templatesBuilt} → ${after.templatesBuilt}, net ${before.netSeconds} → ${after.netSeconds}`;
    assert.ok(before.rebuilds > 5, `the trace must show the flip-flop without hysteresis: ${seen}`);
    assert.ok(after.rebuilds <= 5, `too many drop-and-re-add pairs within 7 days: ${seen}`);
    assert.ok(after.netSeconds >= before.netSeconds - 0.01 * Math.abs(before.netSeconds), `hysteresis costs more than 1 % of net savings: ${seen}`);
  });

  it('keeps the previous half-life unless another scores more than the margin better', () => {
    const scores = [1, 7, 28].map((d, i) => ({ halfLife: d * DAY, score: [104, 100, 101][i]! }));
    const o = { defaultHalfLife: 14 * DAY, halfLifeMargin: 0.05 };
    assert.equal(chooseHalfLife(scores, { ...o, previous: { halfLife: 7 * DAY } }), 7 * DAY, '104 is within 5 % of 100');
    assert.equal(chooseHalfLife(scores, { ...o, previous: {} }), 1 * DAY, 'no previous: the best decides');
    assert.equal(chooseHalfLife(scores.map((s) => (s.halfLife === DAY ? { ...s, score: 106 } : s)), { ...o, previous: { halfLife: 7 * DAY } }), 1 * DAY, '106 beats 100 by more than 5 %');
    assert.equal(chooseHalfLife(null, { ...o, previous: { halfLife: 7 * DAY } }), 14 * DAY, 'too little history: the default');
  });

  it('keeps a built template the selection drops until keeping it has lost its rebuild (rent or buy), then drops it', () => {
    const costs = new Map([['gcc@12', 1800], ['jdk@17', 300], ['cuda@11.8', 1200]]);
    const gcc = setKey('r', ['gcc@12']);
    const cuda = setKey('r', ['cuda@11.8', 'gcc@12']);
    // Demand moved from gcc alone to gcc + cuda: with one template, the selection alone swaps gcc for gcc + cuda.
    const history: HistoryBuild[] = [
      ...Array.from({ length: 5 }, (_, i) => ({ t: i, root: 'r', components: ['gcc@12'] })),
      ...Array.from({ length: 20 }, (_, i) => ({ t: 100 + i, root: 'r', components: ['gcc@12', 'cuda@11.8'] })),
    ];
    const opts = { ...defaultAnalysisOptions(), minSupport: 1, minTemplateSeconds: 0, storageSecondsPerGiB: 0, maxTemplates: 1, built: new Set([gcc]), halfLifeSeconds: 1e9 };
    const keys = (pinned?: Set<string>) => selectTemplates(history, costs, { ...opts, now: 200, ...(pinned ? { pinned } : {}) }).templates.map((t) => t.key);
    assert.deepEqual(keys(), [cuda]);
    assert.deepEqual(keys(new Set([gcc])), [gcc], 'pinned: kept whatever it scores');

    const losing = [{ key: gcc, rebuildSeconds: 1800 }];
    const at = (now: number, rent: number, before?: Held, holdRebuilds = 1) =>
      holds(losing, new Map([[gcc, rent]]), { now, holdRebuilds, previous: before ? { held: { [gcc]: before } } : {} });
    assert.deepEqual(at(200, 0), { [gcc]: { since: 200, lostSeconds: 0, rebuildSeconds: 1800 } }, 'first loss: held, nothing lost yet');
    assert.deepEqual(at(200 + HOUR, 1000, { since: 200, lostSeconds: 0, rebuildSeconds: 1800 }), { [gcc]: { since: 200, lostSeconds: 1000, rebuildSeconds: 1800 } }, 'lost less than a rebuild: held');
    assert.deepEqual(at(200 + 2 * HOUR, 800, { since: 200, lostSeconds: 1000, rebuildSeconds: 1800 }), {}, 'lost a rebuild: dropped');
    assert.deepEqual(at(200 + HOUR, 1, { since: 200, lostSeconds: 0, rebuildSeconds: 1800 }), { [gcc]: { since: 200, lostSeconds: 1, rebuildSeconds: 1800 } }, 'losing by a hair: held');
    assert.deepEqual(at(200 + HOUR, 5000, { since: 200, lostSeconds: 0, rebuildSeconds: 1800 }), {}, 'losing by a lot: dropped at the next analysis');
    assert.deepEqual(at(200 + 2 * HOUR, 800, { since: 200, lostSeconds: 1000, rebuildSeconds: 1800 }, 2), { [gcc]: { since: 200, lostSeconds: 1800, rebuildSeconds: 1800 } }, 'held for two rebuilds: still held');
    assert.deepEqual(at(200, 0, undefined, 0), {}, 'no hold: dropped at once');
  });

  it('charges the hold what the previous free choice would have spared the builds since, shared among the templates it kept', () => {
    const costs = new Map([['gcc@12', 1800], ['jdk@17', 300], ['cuda@11.8', 1200]]);
    const gcc = setKey('r', ['gcc@12']);
    const jdk = setKey('r', ['jdk@17']);
    const cuda = setKey('r', ['cuda@11.8', 'gcc@12']);
    const t0 = 10 * DAY;
    // Three builds of gcc + cuda in the hour since the last analysis; one before it (not charged again).
    const demand = aggregateDemand(
      [t0 - 60, t0 + 60, t0 + 600, t0 + 1800].map((t) => ({ t, root: 'r', components: ['gcc@12', 'cuda@11.8'] })),
      costs,
    );
    const o = { ...defaultAnalysisOptions(), storageSecondsPerGiB: 0, now: t0 + HOUR, windowSeconds: 28 * DAY };
    const charged = (built: string[], previous: AnalysisState) => Object.fromEntries(rent(demand, costs, 7 * DAY, { ...o, built: new Set(built), previous }));
    // gcc stood instead of gcc + cuda: each build would have been spared cuda's 1200 s more.
    assert.deepEqual(charged([gcc], { at: t0, choice: [cuda] }), { [gcc]: 3 * 1200 });
    assert.deepEqual(charged([gcc, jdk], { at: t0, choice: [cuda] }), { [gcc]: 1800, [jdk]: 1800 }, 'two held through the hour share it');
    assert.deepEqual(charged([gcc], { at: t0, choice: [gcc] }), {}, 'the previous choice kept it: nothing held, nothing charged');
    assert.deepEqual(charged([gcc], { choice: [cuda] }), {}, 'a first run has nothing to compare');
    assert.deepEqual(charged([gcc], { at: t0, choice: [gcc, jdk] }), {}, 'kept by the choice: no rent');
    assert.ok(horizonSeconds(demand, 7 * DAY, { now: t0 + HOUR, windowSeconds: 28 * DAY }) > 0);
  });

  it('reads its memory back from what the last run recorded, and starts empty from anything else', () => {
    const held = { 'r|gcc@12': { since: 1_700_000_000, lostSeconds: 1234.5, rebuildSeconds: 1800 } };
    const recorded = { analyzedAt: new Date(1_700_003_600_000).toISOString(), halfLifeDays: 7, choice: ['r|cuda@11.8+gcc@12'], held: recordedHeld(held), keep: [] };
    assert.deepEqual(previousAnalysis(JSON.parse(JSON.stringify(recorded))), { at: 1_700_003_600, halfLife: 7 * DAY, choice: ['r|cuda@11.8+gcc@12'], held });
    for (const bad of [undefined, null, 'x', { halfLifeDays: 'seven' }, { held: { k: { losingSince: 'yesterday', lostSeconds: 1, rebuildSeconds: 1 } } }, { choice: 'r|gcc@12' }]) {
      assert.deepEqual(previousAnalysis(bad), {});
    }
    assert.deepEqual(previousAnalysis({ halfLifeDays: 2, losingSince: {} }), { halfLife: 2 * DAY }, 'a run recorded before the rent existed');
  });
});

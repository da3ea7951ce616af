// The analyzer at the service's cadence (an analysis every hour) on a held-out trace: its template set must not drop a
// template and add it back within a week (each re-add is a template rebuild) more than a few times, and the hysteresis
// that prevents it must not cost savings. Seed 808 was not among the traces the hysteresis constants were chosen on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseHalfLife, holds } from '../../analyzer/analysis.ts';
import { previousAnalysis, recordedLosingSince } from '../../analyzer/analysis-memory.ts';
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
    const before = run({ ...base, halfLifeMargin: 0, dropAfterSeconds: 0 });
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

  it('keeps a built template the selection drops until it has lost for the hold, then drops it; a win resets the clock', () => {
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
    const free = selectTemplates(history, costs, { ...opts, now: 200 });
    const at = (now: number, losingSince?: Record<string, number>) => holds(free, { built: opts.built, now, dropAfterSeconds: DAY, previous: losingSince ? { losingSince } : {} });
    assert.deepEqual(at(200), { pinned: new Set([gcc]), losingSince: { [gcc]: 200 } }, 'first loss: held, clock starts');
    assert.deepEqual(at(200 + DAY - 1, { [gcc]: 200 }).pinned, new Set([gcc]), 'still within the hold');
    assert.deepEqual(at(200 + DAY, { [gcc]: 200 }), { pinned: new Set(), losingSince: {} }, 'lost for a whole day: dropped');
    assert.deepEqual(holds(free, { built: opts.built, now: 200, dropAfterSeconds: 0 }).pinned, new Set(), 'no hold: dropped at once');
  });

  it('reads its memory back from what the last run recorded, and starts empty from anything else', () => {
    const losing = { 'r|gcc@12': 1_700_000_000 };
    const recorded = { halfLifeDays: 7, losingSince: recordedLosingSince(losing), keep: [] };
    assert.deepEqual(previousAnalysis(JSON.parse(JSON.stringify(recorded))), { halfLife: 7 * DAY, losingSince: losing });
    for (const bad of [undefined, null, 'x', { halfLifeDays: 'seven' }, { losingSince: { k: 'yesterday' } }]) assert.deepEqual(previousAnalysis(bad), {});
    assert.deepEqual(previousAnalysis({ halfLifeDays: 2 }), { halfLife: 2 * DAY }, 'a run recorded before the hold existed');
  });
});

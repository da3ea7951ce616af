import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectTemplates, type SelectOptions } from '../../analyzer/template-selector.ts';
import { bestTemplateFor, setKey, type HistoryBuild } from '../../core/templates/savings.ts';

const costs = new Map([
  ['gcc@12', 1800],
  ['cuda@11.8', 1200],
  ['jdk@17', 300],
  ['openssl@3', 60],
]);
type Opts = SelectOptions & { now: number; halfLifeSeconds: number };
const opts = (o: Partial<Opts> = {}): Opts => ({
  now: 1000,
  halfLifeSeconds: 1e12,
  storageSecondsPerGiB: 0,
  sizes: new Map(),
  defaultSizeBytes: 0,
  maxTemplates: 1,
  minSupport: 1,
  minTemplateSeconds: 0,
  ...o,
});
const builds = (n: number, components: string[], t = 1000, root = 'debian-bookworm'): HistoryBuild[] =>
  Array.from({ length: n }, () => ({ root, components, t }));
const keys = (s: { templates: { key: string }[] }) => s.templates.map((t) => t.key).sort();

describe('template selector', () => {
  it('prefers a rarer expensive set to the most frequent cheap one', () => {
    const history = [...builds(100, ['openssl@3']), ...builds(10, ['gcc@12', 'cuda@11.8'])];
    const s = selectTemplates(history, costs, opts());
    assert.deepEqual(keys(s), [setKey('debian-bookworm', ['gcc@12', 'cuda@11.8'])]);
    // 10 builds × 3000 s saved − 3000 s to build it
    assert.equal(s.objective, 27_000);
  });

  it('picks a nested pair: the superset built FROM the subset costs only the difference', () => {
    const history = [...builds(20, ['gcc@12', 'cuda@11.8']), ...builds(20, ['gcc@12', 'cuda@11.8', 'jdk@17'])];
    const s = selectTemplates(history, costs, opts({ maxTemplates: 2 }));
    const small = setKey('debian-bookworm', ['gcc@12', 'cuda@11.8']);
    const big = setKey('debian-bookworm', ['gcc@12', 'cuda@11.8', 'jdk@17']);
    assert.deepEqual(keys(s), [big, small].sort());
    const bigT = s.templates.find((t) => t.key === big)!;
    assert.equal(bigT.parent, small);
    assert.equal(bigT.cost, 300, 'nested: only jdk is installed on top of the smaller template');
    assert.equal(s.objective, 20 * 3000 + 20 * 3300 - 3000 - 300);
  });

  it('a shared sub-combination beats either exact combination when one template is allowed', () => {
    // Two teams need gcc+cuda plus one light extra each: the common expensive core serves both.
    const history = [...builds(10, ['gcc@12', 'cuda@11.8', 'jdk@17']), ...builds(10, ['gcc@12', 'cuda@11.8', 'openssl@3'])];
    const s = selectTemplates(history, costs, opts());
    assert.deepEqual(keys(s), [setKey('debian-bookworm', ['gcc@12', 'cuda@11.8'])]);
  });

  it('weights recent builds more: drift moves the choice', () => {
    const history = [...builds(10, ['jdk@17', 'openssl@3'], 0), ...builds(4, ['gcc@12'], 990)];
    const s = selectTemplates(history, costs, opts({ halfLifeSeconds: 100 }));
    assert.deepEqual(keys(s), [setKey('debian-bookworm', ['gcc@12'])]);
  });

  it('with no candidates allowed (maxCandidates 0) chooses nothing, and does not fail', () => {
    const history = [...builds(5, ['gcc@12', 'cuda@11.8']), ...builds(5, ['jdk@17'])];
    assert.deepEqual(keys(selectTemplates(history, costs, opts({ maxTemplates: 3, maxCandidates: 0 }))), []);
    assert.equal(keys(selectTemplates(history, costs, opts({ maxTemplates: 3, maxCandidates: 10 }))).length > 0, true);
  });

  it('chooses nothing when no template pays for itself, and respects templates already built', () => {
    const history = builds(1, ['jdk@17']);
    assert.deepEqual(keys(selectTemplates(history, costs, opts())), []);
    // Already built, storage free: it pays (300 saved, build cost sunk).
    assert.deepEqual(keys(selectTemplates(history, costs, opts({ built: new Set([setKey('debian-bookworm', ['jdk@17'])]) }))), [
      setKey('debian-bookworm', ['jdk@17']),
    ]);
  });

  it('keeps within the byte budget and never mixes roots', () => {
    const history = [...builds(10, ['gcc@12', 'cuda@11.8']), ...builds(10, ['gcc@12'], 1000, 'other-root')];
    const sizes = new Map([['gcc@12', 300e6], ['cuda@11.8', 5e9]]);
    const s = selectTemplates(history, costs, opts({ maxTemplates: 5, sizes, maxBytes: 1e9 }));
    assert.deepEqual(keys(s).sort(), [setKey('debian-bookworm', ['gcc@12']), setKey('other-root', ['gcc@12'])].sort());
  });

  // No (1 − 1/e) guarantee holds (nested build costs make the objective non-submodular): this only checks that
  // greedy plus swaps finds the exhaustive optimum in most small cases.
  it('usually equals the exhaustive optimum on random small histories', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const all = [...costs.keys()];
    let equal = 0;
    for (let trial = 0; trial < 25; trial++) {
      const history: HistoryBuild[] = [];
      for (let i = 0; i < 12; i++) {
        const set = all.filter(() => rand() < 0.5);
        if (set.length) history.push(...builds(1 + Math.floor(rand() * 5), set));
      }
      const o = opts({ maxTemplates: 2, storageSecondsPerGiB: 500, defaultSizeBytes: 2 ** 30 });
      const got = selectTemplates(history, costs, o).objective;
      // Exhaustive: every set of ≤ 2 candidate subsets, scored by the same objective.
      const cands = [...new Set(history.map((b) => b.components.join('+')))].flatMap((k) => {
        const items = k.split('+');
        return Array.from({ length: (1 << items.length) - 1 }, (_, m) => items.filter((__, i) => (m + 1) & (1 << i)));
      });
      let optimum = 0;
      for (let a = 0; a < cands.length; a++) {
        for (let b = a; b < cands.length; b++) {
          const set = a === b ? [cands[a]!] : [cands[a]!, cands[b]!];
          let saved = 0;
          for (const h of history) saved += bestTemplateFor(h, set.map((c) => ({ root: 'debian-bookworm', components: c })), costs)?.saved ?? 0;
          const cost = set.reduce((n, c, i) => {
            const other = set[1 - i];
            const nested = other && other.length < c.length && other.every((k) => c.includes(k));
            return n + c.reduce((x, k) => x + costs.get(k)!, 0) - (nested ? other.reduce((x, k) => x + costs.get(k)!, 0) : 0) + 500 * c.length;
          }, 0);
          optimum = Math.max(optimum, saved - cost);
        }
      }
      assert.ok(got <= optimum + 1e-6, `trial ${trial}: ${got} beats the exhaustive optimum ${optimum}`);
      if (Math.abs(got - optimum) < 1e-6) equal++;
    }
    assert.ok(equal >= 20, `optimal in only ${equal}/25 trials`);
  });
});

import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { planLayerPrebuilds, type KnownLayer } from '../../analyzer/layer-prebuild.ts';
import { loadCatalog } from '../../core/catalog/catalog-loader.ts';
import type { Catalog } from '../../core/catalog/catalog.ts';
import { demandHours } from '../../core/templates/demand-hours.ts';

let catalog: Catalog;
before(async () => {
  catalog = await loadCatalog(path.resolve(import.meta.dirname, '../../base-images'));
});
const hash = (key: string) => {
  const [n, v] = key.split('@') as [string, string];
  return catalog.components.get(n)!.versions.get(v)!.recipeHash;
};
const layer = (key: string, baseKeys: string[] = [], extra: Partial<KnownLayer> = {}): KnownLayer => ({
  id: `id-${key}-${baseKeys.join('-')}`,
  root: 'debian-bookworm',
  componentKey: key,
  recipeHash: hash(key),
  baseKeys,
  status: 'ready',
  unpackedBytes: 100,
  ...extra,
});
type Row = { root: string; components: string[]; t: number; count: number };
const input = (over: Omit<Partial<Parameters<typeof planLayerPrebuilds>[0]>, 'history'> & { history?: Row[] } = {}) => ({
  catalog,
  now: 1000 * 86400,
  halfLifeSeconds: 14 * 86400,
  layers: [],
  judged: new Set<string>(),
  preverifyMax: 5,
  ...over,
  history: demandHours(over.history ?? []),
});

describe('layers ahead of demand', () => {
  it('on a fresh installation, every catalog version, and cuda on each gcc its requires accept', () => {
    const d = planLayerPrebuilds(input());
    const built = d.build.map((b) => b.components.join('+')).sort();
    assert.deepEqual(built, ['gcc@11', 'gcc@11+cuda@11.8', 'gcc@12', 'gcc@12+cuda@11.8', 'jdk@11', 'jdk@17', 'openssl@1.1', 'openssl@3'].sort());
  });

  it('skips what exists, puts a new recipe first and then the most used, and stays within the byte budget', () => {
    const d = planLayerPrebuilds(
      input({
        layers: [layer('gcc@12'), layer('gcc@11'), layer('gcc@12', [], { id: 'old', recipeHash: 'sha256:old' }), layer('jdk@17', [], { recipeHash: 'sha256:older', id: 'old-jdk' })],
        history: [
          { root: 'debian-bookworm', components: ['openssl@1.1'], t: 999 * 86400, count: 5 },
          { root: 'debian-bookworm', components: ['jdk@11'], t: 999 * 86400, count: 1 },
        ],
        budgetBytes: 100 * 2 + 512 * 1024 ** 2 * 3,
      }),
    );
    assert.equal(d.build[0]!.components.join('+'), 'jdk@17', 'a new recipe of jdk@17 is built at once');
    assert.match(d.build[0]!.reason, /new recipe/);
    assert.equal(d.build[1]!.components.join('+'), 'openssl@1.1', 'then the most used');
    assert.equal(d.build.length, 3, `the budget holds three more layers: ${JSON.stringify(d.build)}`);
    assert.ok(d.skipped.some((s) => /over the layer budget/.test(s.reason)));
    assert.deepEqual(d.stale.map((s) => s.id).sort(), ['old', 'old-jdk']);
  });

  it('proposes no layer on a base that cannot be a layer, and says why', () => {
    const gcc11 = catalog.components.get('gcc')!.versions.get('11')!;
    const versions = new Map(catalog.components.get('gcc')!.versions);
    versions.set('11', { ...gcc11, composable: false });
    const components = new Map(catalog.components);
    components.set('gcc', { ...catalog.components.get('gcc')!, versions });
    const d = planLayerPrebuilds(input({ catalog: { ...catalog, components } }));
    const built = d.build.map((b) => b.components.join('+'));
    assert.ok(!built.includes('gcc@11+cuda@11.8'), `cuda is not proposed on gcc@11: ${built}`);
    assert.ok(built.includes('gcc@12+cuda@11.8'), `cuda on gcc@12 still is: ${built}`);
    assert.ok(d.skipped.some((s) => s.key === 'cuda@11.8 on gcc@11' && /gcc@11 under it is marked not composable/.test(s.reason)), JSON.stringify(d.skipped));
  });

  it('counts layers still being built against the byte budget', () => {
    const building = (key: string) => layer(key, [], { status: 'building', unpackedBytes: null, id: `b-${key}` });
    const budgetBytes = 512 * 1024 ** 2 * 3;
    const free = planLayerPrebuilds(input({ budgetBytes }));
    assert.equal(free.build.length, 3, 'three layers of unknown size fit the budget');
    const d = planLayerPrebuilds(input({ budgetBytes, layers: [building('jdk@17'), building('jdk@11')] }));
    assert.equal(d.build.length, 1, `two of the three are taken by layers being built: ${JSON.stringify(d.build)}`);
  });

  it('verifies the hottest combinations without a verdict, and none with one', () => {
    const t = 999 * 86400;
    const d = planLayerPrebuilds(
      input({
        history: [
          { root: 'debian-bookworm', components: ['openssl@3', 'jdk@17'], t, count: 9 },
          { root: 'debian-bookworm', components: ['gcc@12', 'openssl@3'], t, count: 3 },
          { root: 'debian-bookworm', components: ['gcc@12', 'cuda@11.8'], t, count: 5 },
        ],
        judged: new Set(['debian-bookworm|gcc@12+cuda@11.8']),
        preverifyMax: 1,
      }),
    );
    assert.deepEqual(d.verify.map((v) => v.components), [['jdk@17', 'openssl@3']]);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseBase } from '../../core/templates/base-choice.ts';
import { decideTemplates } from '../../analyzer/template-lifecycle.ts';
import type { ChosenTemplate } from '../../analyzer/template-selector.ts';
import type { TemplateRow } from '../../core/db/schema/templates.ts';

const pc = (key: string, hash = `h-${key}`) => ({ name: key.split('@')[0]!, version: key.split('@')[1]!, key, recipeHash: hash });
const costs = new Map([['gcc@12', 1800], ['cuda@11.8', 1200], ['jdk@17', 300]]);
const want = { root: 'r', rootImage: 'root:r', components: [pc('gcc@12'), pc('cuda@11.8'), pc('jdk@17')] };
const ready = (id: string, keys: string[], hashes: Record<string, string> = {}) => ({ id, root: 'r', imageRef: `reg/t:${id}`, digest: `sha256:${id}`, components: keys.map((k) => pc(k, hashes[k])) });

describe('template choice', () => {
  it('picks the subset template that saves the most', () => {
    const base = chooseBase(want, [ready('small', ['gcc@12']), ready('big', ['gcc@12', 'cuda@11.8']), ready('other', ['gcc@12', 'boost@1'])], costs);
    assert.deepEqual(base, { kind: 'template', image: 'reg/t:big', digest: 'sha256:big', templateId: 'big', covers: ['gcc@12', 'cuda@11.8'], secondsSaved: 3000, secondsSavedEstimated: 3000 });
  });
  it('reports the part of a saving priced by catalog estimates apart from the measured part', () => {
    const base = chooseBase(want, [ready('big', ['gcc@12', 'cuda@11.8'])], costs, new Set(['gcc@12']));
    assert.equal(base.kind === 'template' && base.secondsSaved, 3000);
    assert.equal(base.kind === 'template' && base.secondsSavedEstimated, 1200, 'cuda was never measured: its 1200 s are an estimate');
  });
  it('never uses a template built from another recipe, nor one of another root', () => {
    const base = chooseBase(want, [ready('stale', ['gcc@12', 'cuda@11.8'], { 'cuda@11.8': 'old' }), { ...ready('alien', ['gcc@12']), root: 'x' }], costs);
    assert.deepEqual(base, { kind: 'root', image: 'root:r' });
  });
});

const row = (id: string, keys: string[], status: TemplateRow['status'], hashes: Record<string, string> = {}): TemplateRow => ({
  id, root: 'r', componentKey: keys.join('+'), components: keys.map((k) => pc(k, hashes[k])), parentId: null, imageRef: `reg/t:${id}`,
  digest: 'sha256:x', sizeBytes: 1, status, buildSeconds: 1, hits: 0, secondsSaved: 0, secondsSavedEstimated: 0, lastHitAt: null, error: status === 'failed' ? 'boom' : null,
  createdAt: new Date(), readyAt: null, retiredAt: null, imageDeletedAt: null,
});
const chosen = (keys: string[], parent?: string): ChosenTemplate => ({
  root: 'r', components: keys, key: `r|${[...keys].sort().join('+')}`, weightedHits: 3, weightedSeconds: 900, cost: 100, installSeconds: 300, ...(parent ? { parent } : {}),
});

describe('template decisions', () => {
  const current = new Map([['gcc@12', 'h-gcc@12'], ['cuda@11.8', 'h-cuda@11.8'], ['jdk@17', 'h-jdk@17']]);
  const canonical = (_root: string, keys: string[]) => keys.map((k) => pc(k));

  it('keeps what is chosen and current, builds what is missing, retires what is not chosen, marks changed recipes stale', () => {
    const d = decideTemplates(
      [chosen(['gcc@12']), chosen(['gcc@12', 'cuda@11.8'], 'r|gcc@12')],
      [row('keep', ['gcc@12'], 'ready'), row('stale', ['gcc@12', 'cuda@11.8'], 'ready', { 'cuda@11.8': 'old' }), row('retire', ['jdk@17'], 'ready')],
      current,
      canonical,
    );
    assert.deepEqual(d.keep.map((k) => k.id), ['keep']);
    assert.deepEqual(d.stale.map((k) => [k.id, k.reason]), [['stale', 'recipe changed for cuda@11.8']]);
    assert.deepEqual(d.build.map((b) => [b.key, b.parentKey]), [['r|cuda@11.8+gcc@12', 'r|gcc@12']]);
    assert.deepEqual(d.retire.map((k) => k.id), ['retire']);
  });

  it('does not rebuild a set whose template failed with the same recipes', () => {
    const d = decideTemplates([chosen(['jdk@17'])], [row('bad', ['jdk@17'], 'failed')], current, canonical);
    assert.equal(d.build.length, 0);
    assert.match(d.skip[0]!.reason, /failed to build \(boom\)/);
  });
});

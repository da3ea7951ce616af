import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { loadCatalog } from '../../core/catalog/catalog-loader.ts';
import type { Catalog, ComponentVersion } from '../../core/catalog/catalog.ts';
import { resolveComponents } from '../../core/catalog/component-resolver.ts';

const ROOT = 'debian-bookworm';
let catalog: Catalog;
before(async () => {
  catalog = await loadCatalog(path.resolve(import.meta.dirname, '../../base-images'));
});

const keys = (request: string[], cat = catalog) => resolveComponents(cat, ROOT, request).components.map((c) => c.key);

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]));
}

/** The catalog with one component's version replaced (the shipped catalog is left untouched). */
function withVersion(cat: Catalog, name: string, version: string, patch: Partial<ComponentVersion>): Catalog {
  const comp = cat.components.get(name)!;
  const versions = new Map(comp.versions);
  versions.set(version, { ...comp.versions.get(version)!, ...patch });
  return { ...cat, components: new Map(cat.components).set(name, { ...comp, versions }) };
}

describe('component resolver', () => {
  it('names an unknown component, an unknown version and a broken requirement, all at once', () => {
    const r = resolveComponents(catalog, ROOT, ['nosuch', 'jdk@99', 'cuda@11.8']);
    const at = (field: string) => r.problems.filter((p) => p.field === field).map((p) => p.message);
    assert.deepEqual(r.problems.map((p) => p.field).sort(), ['components[0]', 'components[1]', 'components[2]'], JSON.stringify(r.problems));
    assert.match(at('components[0]')[0]!, /unknown component "nosuch" \(known: .*\bcuda\b.*\bgcc\b.*\bjdk\b/);
    assert.match(at('components[1]')[0]!, /unknown version "99" of jdk \(versions: .*\b17\b/);
    // Both sides of the rule: who requires (cuda@11.8) and what is missing (gcc, with its range).
    assert.match(at('components[2]')[0]!, /^cuda@11\.8 requires gcc >=11 <13, which is not in the request/);
    // Only what resolved is returned.
    assert.deepEqual(r.components.map((c) => c.key), ['cuda@11.8']);
  });

  it('names both versions when a required version is outside the range', () => {
    // The shipped range admits every shipped gcc; narrow it here to see the message for a version outside it.
    const narrowed = withVersion(catalog, 'cuda', '11.8', {
      requires: [{ component: 'gcc', versions: '>=11 <12', reason: 'test range' }],
    });
    const r = resolveComponents(narrowed, ROOT, ['gcc@12', 'cuda@11.8']);
    assert.deepEqual(r.problems, [
      { field: 'components[1]', message: 'cuda@11.8 requires gcc >=11 <12, but the request has gcc@12: test range' },
    ]);
    assert.deepEqual(resolveComponents(narrowed, ROOT, ['gcc@11', 'cuda@11.8']).problems, []);
  });

  it('cuda@11.8 resolves with either shipped gcc (Debian\'s nvcc compiles host code with g++-11 either way)', () => {
    for (const gcc of ['gcc@11', 'gcc@12']) {
      const r = resolveComponents(catalog, ROOT, ['cuda@11.8', gcc]);
      assert.deepEqual(r.problems, [], gcc);
      assert.deepEqual(r.components.map((c) => c.key), [gcc, 'cuda@11.8'], 'gcc installs before cuda');
    }
  });

  it('a name without a version resolves to the default version', () => {
    const gcc = catalog.components.get('gcc')!;
    const r = resolveComponents(catalog, ROOT, ['gcc']);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.components.map((c) => c.key), [`gcc@${gcc.default}`]);
    assert.equal(gcc.default, '12');
    assert.deepEqual(keys(['jdk', 'openssl', 'cuda', 'gcc']), ['gcc@12', 'cuda@11.8', 'jdk@17', 'openssl@3']);
  });

  it('the same components in any order resolve to one canonical order (by rank, heavy toolchains first)', () => {
    const request = ['openssl@1.1', 'jdk@11', 'gcc@11', 'cuda'];
    const expected = ['gcc@11', 'cuda@11.8', 'jdk@11', 'openssl@1.1'];
    for (const p of permutations(request)) {
      const r = resolveComponents(catalog, ROOT, p);
      assert.deepEqual(r.problems, [], p.join(' '));
      assert.deepEqual(r.components.map((c) => c.key), expected, p.join(' '));
    }
    const ranks = expected.map((k) => catalog.components.get(k.split('@')[0]!)!.rank);
    assert.deepEqual([...ranks].sort((a, b) => a - b), ranks);
  });

  it('refuses two versions of one component', () => {
    const r = resolveComponents(catalog, ROOT, ['gcc@11', 'gcc@12']);
    assert.deepEqual(r.problems.map((p) => p.field), ['components[1]']);
    assert.match(r.problems[0]!.message, /gcc is asked twice \(gcc@11 at components\[0\] and gcc@12\)/);
  });
});

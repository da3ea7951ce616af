import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { loadCatalog } from '../../core/catalog/catalog-loader.ts';
import type { Catalog, ComponentVersion } from '../../core/catalog/catalog.ts';

const shipped = path.resolve(import.meta.dirname, '../../base-images');
const temps: string[] = [];
after(() => Promise.all(temps.map((d) => rm(d, { recursive: true, force: true }))));

let original: Catalog;
before(async () => {
  original = await loadCatalog(shipped);
});

function versions(catalog: Catalog): ComponentVersion[] {
  return [...catalog.components.values()].flatMap((c) => [...c.versions.values()]).sort((a, b) => (a.key < b.key ? -1 : 1));
}

function hashes(catalog: Catalog): Map<string, string> {
  return new Map(versions(catalog).map((v) => [v.key, v.recipeHash]));
}

/** A copy of the shipped catalog with one version file edited through `edit`, loaded. */
async function loadEdited(v: ComponentVersion, edit: (doc: ReturnType<typeof parseDocument>) => void): Promise<Catalog> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kiln-catalog-hashes-'));
  temps.push(dir);
  await cp(shipped, dir, { recursive: true });
  const file = path.join(dir, v.file);
  const doc = parseDocument(await readFile(file, 'utf8'));
  edit(doc);
  await writeFile(file, doc.toString());
  return loadCatalog(dir);
}

/** The keys whose recipe hash differs between two catalogs that hold the same versions. */
function changedKeys(a: Catalog, b: Catalog): string[] {
  const ha = hashes(a);
  const hb = hashes(b);
  assert.deepEqual([...hb.keys()], [...ha.keys()], 'both catalogs hold the same versions');
  return [...ha.keys()].filter((k) => ha.get(k) !== hb.get(k));
}

describe('catalog recipe hashes', () => {
  it('every shipped version has its own hash', () => {
    const all = versions(original);
    assert.ok(all.length >= 2);
    assert.equal(new Set(all.map((v) => v.recipeHash)).size, all.length);
    for (const v of all) assert.match(v.recipeHash, /^sha256:[0-9a-f]{64}$/, v.key);
  });

  it('loading the same files twice gives the same hashes', async () => {
    assert.deepEqual(hashes(await loadCatalog(shipped)), hashes(original));
  });

  it('adding a package to one version changes exactly that version\'s hash', async () => {
    const target = versions(original).find((v) => 'packages' in v.install);
    assert.ok(target, 'the shipped catalog has a version installed from packages');
    const edited = await loadEdited(target, (doc) => doc.addIn(['install', 'packages'], 'hello'));
    const loaded = edited.components.get(target.name)!.versions.get(target.version)!;
    assert.ok('packages' in loaded.install && loaded.install.packages.includes('hello'), 'the edit reached the loaded recipe');
    assert.deepEqual(changedKeys(original, edited), [target.key]);
  });

  it('changing one version\'s install script changes exactly that version\'s hash', async () => {
    const target = versions(original).find((v) => 'script' in v.install);
    assert.ok(target, 'the shipped catalog has a version installed by a script');
    const edited = await loadEdited(target, (doc) => doc.setIn(['install', 'script'], `${doc.getIn(['install', 'script'])}echo changed\n`));
    assert.deepEqual(changedKeys(original, edited), [target.key]);
  });

  it('changing one version\'s env changes exactly that version\'s hash', async () => {
    const target = versions(original).find((v) => Object.keys(v.env).length > 0);
    assert.ok(target, 'the shipped catalog has a version that sets env');
    const edited = await loadEdited(target, (doc) => doc.setIn(['env', 'KILN_HASH_TEST'], 'x'));
    assert.deepEqual(changedKeys(original, edited), [target.key]);
  });

  it('changing smoke, description and cost changes no hash (the installed layer stays the same)', async () => {
    const target = versions(original)[0]!;
    const edited = await loadEdited(target, (doc) => {
      doc.set('smoke', 'true\n');
      doc.set('description', 'edited');
      doc.set('costEstimateSeconds', 12345);
    });
    assert.equal(edited.components.get(target.name)!.versions.get(target.version)!.smoke, 'true\n', 'the edit reached the loaded recipe');
    assert.deepEqual(changedKeys(original, edited), []);
  });
});

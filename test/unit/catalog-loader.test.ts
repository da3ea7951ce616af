import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadCatalog } from '../../core/catalog/catalog-loader.ts';
import { CatalogError } from '../../core/catalog/catalog.ts';

const shipped = path.resolve(import.meta.dirname, '../../base-images');
const temps: string[] = [];
after(() => Promise.all(temps.map((d) => rm(d, { recursive: true, force: true }))));

async function copyOfCatalog(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kiln-catalog-'));
  temps.push(dir);
  await cp(shipped, dir, { recursive: true });
  return dir;
}

async function loadError(dir: string): Promise<string[]> {
  await assert.rejects(loadCatalog(dir), CatalogError);
  try {
    await loadCatalog(dir);
  } catch (err) {
    return (err as CatalogError).problems;
  }
  return [];
}

describe('catalog loader', () => {
  it('loads the shipped catalog with jdk@17 and openssl@3', async () => {
    const catalog = await loadCatalog(shipped);
    assert.ok(catalog.roots.has('debian-bookworm'));
    assert.equal(catalog.components.get('jdk')?.versions.get('17')?.key, 'jdk@17');
    assert.match(catalog.components.get('openssl')?.versions.get('3')?.recipeHash ?? '', /^sha256:[0-9a-f]{64}$/);
  });

  it('names the file and field of a schema error', async () => {
    const dir = await copyOfCatalog();
    await writeFile(path.join(dir, 'components/jdk/17.yaml'), 'name: jdk\nversion: "17"\nroots: [debian-bookworm]\ninstall: {packages: []}\nsmoke: "true"\ncostEstimateSeconds: -1\n');
    const problems = await loadError(dir);
    assert.ok(problems.some((p) => p.startsWith('components/jdk/17.yaml: install')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('components/jdk/17.yaml: costEstimateSeconds')), problems.join('\n'));
  });

  it('names a dangling reference and a cycle, all at once', async () => {
    const dir = await copyOfCatalog();
    await mkdir(path.join(dir, 'components/aaa'));
    await writeFile(path.join(dir, 'components/aaa/component.yaml'), 'name: aaa\ndescription: a\nrank: 1\ndefault: "1"\n');
    await writeFile(
      path.join(dir, 'components/aaa/1.yaml'),
      'name: aaa\nversion: "1"\nroots: [debian-sid]\ninstall: {packages: [hello]}\nsmoke: "true"\ncostEstimateSeconds: 1\nrequires: [{component: bbb}, {component: nope}]\n',
    );
    await mkdir(path.join(dir, 'components/bbb'));
    await writeFile(path.join(dir, 'components/bbb/component.yaml'), 'name: bbb\ndescription: b\nrank: 2\ndefault: "1"\n');
    await writeFile(
      path.join(dir, 'components/bbb/1.yaml'),
      'name: bbb\nversion: "1"\nroots: [debian-bookworm]\ninstall: {packages: [hello]}\nsmoke: "true"\ncostEstimateSeconds: 1\nrequires: [{component: aaa}]\n',
    );
    const problems = (await loadError(dir)).join('\n');
    assert.match(problems, /components\/aaa\/1\.yaml: roots: unknown root "debian-sid"/);
    assert.match(problems, /components\/aaa\/1\.yaml: requires: unknown component "nope"/);
    assert.match(problems, /requires cycle (aaa -> bbb -> aaa|bbb -> aaa -> bbb)/);
  });

  it('refuses a version file whose name does not match and a missing default', async () => {
    const dir = await copyOfCatalog();
    await rm(path.join(dir, 'components/openssl/3.yaml'));
    await writeFile(path.join(dir, 'components/openssl/1.1.yaml'), 'name: openssl\nversion: "1.0"\nroots: [debian-bookworm]\ninstall: {packages: [openssl]}\nsmoke: "true"\ncostEstimateSeconds: 1\n');
    const problems = (await loadError(dir)).join('\n');
    assert.match(problems, /components\/openssl\/1\.1\.yaml: version "1\.0" does not match the file name/);
    assert.match(problems, /components\/openssl\/component\.yaml: default version "3" has no file 3\.yaml/);
  });
});

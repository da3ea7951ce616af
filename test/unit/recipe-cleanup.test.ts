import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadCatalog } from '../../core/catalog/catalog-loader.ts';
import { buildTools, installedFrom, leftovers, removalsFrom, removesPackages } from '../helpers/recipe-cleanup.ts';

describe('recipe cleanup', () => {
  it('finds the build tools a script installs with --mark-auto, not the packages it keeps', () => {
    const script = [
      'apt-get update',
      'apt-get install -y --no-install-recommends ca-certificates',
      '# apt-get install --mark-auto not-a-package',
      'apt-get install -y --no-install-recommends --mark-auto gcc-12 libc6-dev \\',
      '  make perl=5.36.0-7 -o Debug::NoLocking=1 dpkg-dev && echo done',
      'apt-get autoremove --purge -y -o APT::AutoRemove::SuggestsImportant=false',
    ].join('\n');
    assert.deepEqual(buildTools(script), ['gcc-12', 'libc6-dev', 'make', 'perl', 'dpkg-dev']);
    assert.equal(removesPackages(script), true);
    assert.equal(removesPackages('apt-get install -y make\n# apt-get purge make\n'), false);
    assert.equal(removesPackages('apt-get purge -y --auto-remove'), true);
  });

  it('reports what stayed, what went that was there before, and what nothing needs', () => {
    const before = new Set(['libc6', 'make']);
    const after = new Set(['libc6', 'gcc-12', 'perl', 'ca-certificates', 'openssl']);
    const r = leftovers(['gcc-12', 'make', 'perl', 'dpkg-dev'], before, after, new Set(['gcc-12', 'perl', 'libc6']));
    assert.deepEqual(r, { removed: ['make'], toolsLeft: ['gcc-12', 'perl'], unneeded: ['gcc-12', 'perl'] });
  });

  it('reads dpkg-query and apt-get -s output', () => {
    assert.deepEqual([...installedFrom('make install ok installed\nperl deinstall ok config-files\nlibc6:amd64 install ok installed\n')], ['make', 'libc6']);
    assert.deepEqual([...removalsFrom('Reading package lists...\nRemv gcc-12 [12.2.0-14]\nRemv make [4.3-4.1]\n')], ['gcc-12', 'make']);
  });

  it('the shipped openssl@1.1 recipe names the build tools it removes again', async () => {
    const catalog = await loadCatalog(path.resolve(import.meta.dirname, '../../base-images'));
    const v = catalog.components.get('openssl')!.versions.get('1.1')!;
    assert.ok('script' in v.install);
    assert.equal(removesPackages(v.install.script), true);
    assert.deepEqual(buildTools(v.install.script), ['gcc-12', 'libc6-dev', 'make', 'perl', 'dpkg-dev']);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson } from '../../core/canonical-json.ts';
import { recipeHash } from '../../core/catalog/recipe-hash.ts';

describe('recipe hash', () => {
  const base = { name: 'jdk', version: '17', install: { packages: ['openjdk-17-jdk-headless'] }, env: { JAVA_HOME: '/x' } };

  it('ignores key order', () => {
    assert.equal(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }), '{"a":[2,{"c":4,"d":3}],"b":1}');
    assert.equal(recipeHash(base), recipeHash({ env: { JAVA_HOME: '/x' }, install: { packages: ['openjdk-17-jdk-headless'] }, version: '17', name: 'jdk' }));
  });

  it('changes with packages, scripts and env', () => {
    const h = recipeHash(base);
    assert.notEqual(recipeHash({ ...base, install: { packages: ['openjdk-17-jdk'] } }), h);
    assert.notEqual(recipeHash({ ...base, env: { JAVA_HOME: '/y' } }), h);
    assert.notEqual(recipeHash({ ...base, install: { script: 'echo hi' } }), h);
  });
});

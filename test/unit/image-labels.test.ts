import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BuildPlan } from '../../core/build-types.ts';
import { imageLabels, templateLabels } from '../../core/image-labels.ts';

const openssl = { name: 'openssl', version: '3', key: 'openssl@3', recipeHash: 'h1' };
const plan = (base: BuildPlan['base']): BuildPlan => ({
  root: { name: 'debian-bookworm', image: 'kiln-root:debian-bookworm' },
  base,
  components: [openssl],
  binary: { uploadId: 'u', sha256: 'ab'.repeat(32), size: 1, s3Key: 'k', path: '/app' },
  entrypoint: ['/app'],
  env: {},
  imageRef: 'reg:5000/kiln/team/demo/hello:1',
});
const created = new Date('2026-05-01T12:00:00Z');

describe('image labels', () => {
  it("carry kiln's provenance and the OCI standard annotations, source and revision when supplied", () => {
    const labels = imageLabels(
      { id: 'b1', spec: { image: 'demo/hello:1', source: 'https://git.example.com/team/hello', revision: 'c0ffee' }, plan: plan({ kind: 'root', image: 'kiln-root:debian-bookworm' }) },
      { name: 'reg:5000/kiln/kiln-roots/debian-bookworm:0123456789ab', digest: 'sha256:root' },
      created,
    );
    assert.deepEqual(labels, {
      'dev.kiln.build-id': 'b1',
      'dev.kiln.root': 'debian-bookworm',
      'dev.kiln.base': 'kiln-root:debian-bookworm',
      'dev.kiln.components': 'openssl@3=h1',
      'dev.kiln.upload-sha256': 'ab'.repeat(32),
      'dev.kiln.route': 'root',
      'org.opencontainers.image.created': '2026-05-01T12:00:00.000Z',
      'org.opencontainers.image.title': 'demo/hello',
      'org.opencontainers.image.version': '1',
      'org.opencontainers.image.base.name': 'reg:5000/kiln/kiln-roots/debian-bookworm:0123456789ab',
      'org.opencontainers.image.base.digest': 'sha256:root',
      'org.opencontainers.image.source': 'https://git.example.com/team/hello',
      'org.opencontainers.image.revision': 'c0ffee',
    });
  });

  it('name a template base by its reference and digest, and leave out what nobody supplied', () => {
    const base = { kind: 'template' as const, image: 'reg:5000/kiln/kiln-templates/debian-bookworm:t1', digest: 'sha256:t', templateId: 't1', covers: ['openssl@3'], secondsSaved: 5 };
    const labels = imageLabels({ id: 'b2', spec: { image: 'demo/hello:2' }, plan: plan(base) }, { name: base.image, digest: base.digest }, created);
    assert.equal(labels['dev.kiln.template-id'], 't1');
    assert.equal(labels['org.opencontainers.image.base.digest'], 'sha256:t');
    assert.equal('org.opencontainers.image.source' in labels, false);
    assert.equal('org.opencontainers.image.revision' in labels, false);
    // A root not (yet) in the registry: named locally, no digest claimed.
    const local = imageLabels({ id: 'b3', spec: { image: 'demo/hello:3' }, plan: plan({ kind: 'root', image: 'kiln-root:debian-bookworm' }) }, { name: 'kiln-root:debian-bookworm' }, created);
    assert.equal(local['org.opencontainers.image.base.name'], 'kiln-root:debian-bookworm');
    assert.equal('org.opencontainers.image.base.digest' in local, false);
  });

  it('say which route the build went: install when it asked to (whatever its base), else its base kind', () => {
    const template = { kind: 'template' as const, image: 'reg:5000/t:1', digest: 'sha256:t', templateId: 't1', covers: ['openssl@3'], secondsSaved: 5 };
    const composed = { kind: 'composed' as const, image: 'reg:5000/c:1', digest: 'sha256:c', compositionKey: 'k', layers: [], merge: null, verifiedNow: false, secondsSaved: 5 };
    const root = { kind: 'root' as const, image: 'kiln-root:debian-bookworm' };
    const route = (p: BuildPlan) => imageLabels({ id: 'b', spec: { image: 'demo/hello:1' }, plan: p }, { name: 'x' }, created)['dev.kiln.route'];
    assert.deepEqual([route(plan(composed)), route(plan(template)), route(plan(root))], ['composed', 'template', 'root']);
    assert.deepEqual([route({ ...plan(root), route: 'install' }), route({ ...plan(template), route: 'install' })], ['install', 'install']);
  });

  it('is the same for the same build, base and time (composition writes them into configs it builds itself)', () => {
    const build = { id: 'b1', spec: { image: 'demo/hello:1' }, plan: plan({ kind: 'root', image: 'kiln-root:debian-bookworm' }) };
    assert.deepEqual(imageLabels(build, { name: 'x', digest: 'sha256:y' }, created), imageLabels(structuredClone(build), { name: 'x', digest: 'sha256:y' }, new Date(created)));
    const t = templateLabels({ id: 't1', root: 'debian-bookworm', components: [openssl] }, { name: 'x', digest: 'sha256:y' }, created);
    assert.equal(t['org.opencontainers.image.title'], 'kiln template debian-bookworm openssl@3');
    assert.equal(t['dev.kiln.template-id'], 't1');
  });
});

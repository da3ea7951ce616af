// `"route": "install"` on a build request, decided from plain values: the planner keeps it in the plan, the route a
// build takes (the preview, which reads what the builder reads) installs even where a verified combination exists,
// the request schema refuses any other value naming the field, and an Idempotency-Key tells the routes apart.
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { buildSpecSchema } from '../../api/api-schemas.ts';
import { createBuildPreview, type BuildPreviewDeps } from '../../api/build-preview.ts';
import { requestHashOf } from '../../api/build-service.ts';
import { installErrorHandler } from '../../api/error-handler.ts';
import { planBuild, type PlanContext } from '../../core/build-planner.ts';
import type { BuildSpec } from '../../core/build-types.ts';
import type { Catalog } from '../../core/catalog/catalog.ts';
import { loadCatalog } from '../../core/catalog/catalog-loader.ts';
import { compositionKey } from '../../core/composition/layer-plan.ts';
import type { ComponentLayerRow, CompositionRootRow, CompositionRow } from '../../core/db/schema/compositions.ts';

let catalog: Catalog;
const upload = { id: '6f1c1f2e-9d59-4a43-9e1e-2f0c8a5b7d11', project: 'p', sha256: 'ab'.repeat(32), size: 10, s3Key: 'uploads/p/x', filename: null, createdAt: new Date() };
const spec: BuildSpec = { root: 'debian-bookworm', components: ['openssl'], uploadId: upload.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image: 'team/app:1' };

before(async () => {
  catalog = await loadCatalog(path.resolve(import.meta.dirname, '../../base-images'));
});

const ctx = (): PlanContext => ({ catalog, upload, registryHost: '127.0.0.1:5000', registryPrefix: 'kiln', project: 'team-a', rootImagePrefix: 'kiln-root' });

/**
 * What the composition records hold on an installation where openssl@3's layer is ready and the combination of it
 * on the root is verified (`status`): the rows as the store returns them, only the columns the route reads.
 */
function records(status: CompositionRow['status']): BuildPreviewDeps['compositions'] {
  const root = { root: 'debian-bookworm', imageId: 'sha256:root', diffIds: ['sha256:r1'] } as CompositionRootRow;
  const openssl = catalog.components.get('openssl')!.versions.get('3')!;
  const layer = { id: 'l1', componentKey: openssl.key, recipeHash: openssl.recipeHash, status: 'ready', digest: 'sha256:l1', diffId: 'sha256:d1', sizeBytes: 1 } as ComponentLayerRow;
  const key = compositionKey(root.diffIds, [layer.diffId!]);
  return {
    latestRoot: async (r) => (r === root.root ? root : undefined),
    findLayer: async (imageId, componentKey, recipeHash, baseKey) =>
      imageId === root.imageId && componentKey === layer.componentKey && recipeHash === layer.recipeHash && baseKey === '' ? layer : undefined,
    composition: async (k) => (k === key ? ({ key, status, error: null } as CompositionRow) : undefined),
  };
}

const previewOf = (compositions: BuildPreviewDeps['compositions'], ready: Awaited<ReturnType<BuildPreviewDeps['templates']['ready']>> = []) =>
  createBuildPreview({ catalog, compositions, templates: { ready: async () => ready, costSamples: async () => [] }, composition: true, rootImagePrefix: 'kiln-root' });

describe('route install: the plan', () => {
  it('keeps "route": "install" in the plan, and leaves every other plan as it was', () => {
    const asked = planBuild({ ...spec, route: 'install' }, ctx());
    assert.ok(asked.ok, JSON.stringify(asked));
    assert.equal(asked.plan.route, 'install');
    for (const s of [spec, { ...spec, route: 'auto' as const }]) {
      const r = planBuild(s, ctx());
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal('route' in r.plan, false, JSON.stringify(r.plan));
    }
  });
});

describe('route install: which way the build goes', () => {
  it('with a verified combination: auto is composed, install installs (FROM the root) and says why', async () => {
    const preview = previewOf(records('verified'));
    const auto = await preview('debian-bookworm', ['openssl']);
    assert.deepEqual([auto.route, auto.verified], ['composed', true], JSON.stringify(auto));
    const install = await preview('debian-bookworm', ['openssl'], 'install');
    assert.equal(install.route, 'install', JSON.stringify(install));
    assert.match(install.reason, /"route": "install"/);
    assert.equal(install.verified, null, 'nothing to verify');
  });

  it('a combination not verified yet: auto would verify it, install never asks', async () => {
    const auto = await previewOf(records('verifying'))('debian-bookworm', ['openssl']);
    assert.deepEqual([auto.route, auto.verified], ['composed', false], JSON.stringify(auto));
    const install = await previewOf(records('verifying'))('debian-bookworm', ['openssl'], 'install');
    assert.deepEqual([install.route, install.verified], ['install', null], JSON.stringify(install));
  });

  it('install may start FROM a ready template: it is an installed image too', async () => {
    const openssl = catalog.components.get('openssl')!.versions.get('3')!;
    const template = { id: 't1', root: 'debian-bookworm', imageRef: '127.0.0.1:5000/kiln/kiln-templates/debian-bookworm:t1', digest: 'sha256:t', components: [{ name: 'openssl', version: '3', key: openssl.key, recipeHash: openssl.recipeHash }], sizeBytes: 1 };
    const install = await previewOf(records('verified'), [template])('debian-bookworm', ['openssl'], 'install');
    assert.deepEqual([install.route, install.template?.id], ['template', 't1'], JSON.stringify(install));
  });
});

describe('route install: the request', () => {
  const app = async () => {
    const a = Fastify();
    a.setValidatorCompiler(validatorCompiler);
    a.setSerializerCompiler(serializerCompiler);
    installErrorHandler(a, { lingerMs: 0 });
    a.withTypeProvider<ZodTypeProvider>().post('/v1/builds', { schema: { body: buildSpecSchema } }, async (req) => ({ route: req.body.route ?? null }));
    await a.ready();
    return a;
  };

  it('refuses a route other than auto or install with a 400 naming the field', async () => {
    const a = await app();
    try {
      const bad = await a.inject({ method: 'POST', url: '/v1/builds', payload: { ...spec, route: 'fast' } });
      assert.equal(bad.statusCode, 400, bad.body);
      const problem = bad.json() as { problems: { field: string; message: string }[] };
      assert.deepEqual(problem.problems.map((p) => p.field), ['route'], bad.body);
      for (const route of ['install', 'auto']) {
        const ok = await a.inject({ method: 'POST', url: '/v1/builds', payload: { ...spec, route } });
        assert.deepEqual([ok.statusCode, ok.json()], [200, { route }], ok.body);
      }
    } finally {
      await a.close();
    }
  });

  it('an Idempotency-Key tells "route": "install" from the default, and takes "auto" as the default', () => {
    assert.notEqual(requestHashOf({ ...spec, route: 'install' }), requestHashOf(spec));
    assert.equal(requestHashOf({ ...spec, route: 'auto' }), requestHashOf(spec));
  });
});

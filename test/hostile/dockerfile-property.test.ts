// Property: for every fuzzed build spec, the planner either refuses it naming only fields of the spec, or plans it
// and the rendered Dockerfile — parsed by a real Dockerfile parser — holds exactly the planned instructions, with
// every user value as its literal. Pure (planner + renderer): thousands of specs in a few seconds.
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { planBuild } from '../../core/build-planner.ts';
import { loadCatalog } from '../../core/catalog/catalog-loader.ts';
import type { Catalog } from '../../core/catalog/catalog.ts';
import { assertPlannedDockerfile } from './dockerfile-check.ts';
import { fuzzSpec, isSpecField } from './hostile-strings.ts';

const UPLOAD_ID = '6f1c1f2e-9d59-4a43-9e1e-2f0c8a5b7d11';
const upload = (kind: 'file' | 'tar') => ({
  id: UPLOAD_ID,
  project: 'p',
  sha256: 'ab'.repeat(32),
  size: 10,
  s3Key: 'uploads/p/x',
  filename: null,
  createdAt: new Date(),
  kind,
  entries: kind === 'tar' ? 3 : null,
  unpackedSize: kind === 'tar' ? 3072 : null,
});

let catalog: Catalog;
before(async () => {
  catalog = await loadCatalog(path.resolve(import.meta.dirname, '../../base-images'));
});

describe('fuzzed build specs → Dockerfile', () => {
  it('every accepted spec renders exactly the planned instructions; every refusal names a field of the spec', () => {
    const components = [...catalog.components.values()].flatMap((c) => [c.name, ...[...c.versions.keys()].map((v) => `${c.name}@${v}`)]);
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(fuzzSpec({ uploadId: fc.constant(UPLOAD_ID), components }), fc.constantFrom('file' as const, 'tar' as const), (spec, kind) => {
        const result = planBuild(spec, {
          catalog,
          upload: spec.uploadId === UPLOAD_ID ? upload(kind) : undefined,
          registryHost: 'registry:5000',
          registryPrefix: 'kiln',
          project: 'p',
          rootImagePrefix: 'kiln-root',
        });
        if (!result.ok) {
          refused++;
          assert.ok(result.problems.length > 0);
          for (const p of result.problems) assert.ok(isSpecField(p.field), `problem names "${p.field}", not a field of the spec`);
          return;
        }
        accepted++;
        assert.equal(result.plan.binary.path, spec.binaryPath);
        assert.deepEqual(result.plan.env, spec.env ?? {});
        assertPlannedDockerfile(catalog, result.plan, spec);
      }),
      { numRuns: 5000, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31) },
    );
    // The generator must exercise both sides, or the property proves nothing.
    assert.ok(accepted > 700, `only ${accepted} accepted specs`);
    assert.ok(refused > 1000, `only ${refused} refused specs`);
  });

  it('the checker itself catches an injected instruction (it can fail)', () => {
    const r = planBuild(
      { root: 'debian-bookworm', components: [], uploadId: UPLOAD_ID, binaryPath: '/opt/a', entrypoint: ['x'], env: { A: 'v' }, image: 'a/b:c' },
      { catalog, upload: upload('file'), registryHost: 'r', registryPrefix: 'k', project: 'p', rootImagePrefix: 'kiln-root' },
    );
    assert.ok(r.ok);
    // A plan whose env value smuggles a line through (as if the grammar had let a newline by): the check must object.
    const smuggled = { ...r.plan, env: { A: 'v"\nRUN touch /pwned\nENV B="x' } };
    assert.throws(() => assertPlannedDockerfile(catalog, smuggled, { ...smuggled, binaryPath: '/opt/a', entrypoint: ['x'] }), /planned instructions/);
  });
});

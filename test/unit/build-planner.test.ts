import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { planBuild, type PlanContext } from '../../core/build-planner.ts';
import type { BuildSpec } from '../../core/build-types.ts';
import { loadCatalog } from '../../core/catalog/catalog-loader.ts';
import { MAX_DOCKERFILE_LINE_BYTES } from '../../core/dockerfile-lines.ts';
import { argsWithLineBytes, envWithLineBytes } from '../helpers/long-lines.ts';

let ctx: PlanContext;
const upload = { id: '6f1c1f2e-9d59-4a43-9e1e-2f0c8a5b7d11', project: 'p', sha256: 'ab'.repeat(32), size: 10, s3Key: 'uploads/p/x', filename: null, createdAt: new Date() };
const good: BuildSpec = {
  root: 'debian-bookworm',
  components: ['openssl', 'jdk@17'],
  uploadId: upload.id,
  binaryPath: '/opt/app/app.jar',
  entrypoint: ['java', '-jar', '/opt/app/app.jar'],
  image: 'team/app:1.0',
};

before(async () => {
  ctx = {
    catalog: await loadCatalog(path.resolve(import.meta.dirname, '../../base-images')),
    upload,
    registryHost: '127.0.0.1:5000',
    registryPrefix: 'kiln',
    project: 'team-a',
    rootImagePrefix: 'kiln-root',
  };
});

describe('build planner', () => {
  it('resolves defaults, sorts components canonically and names the image under the prefix and the project', () => {
    const r = planBuild(good, ctx);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.plan.components.map((c) => c.key), ['jdk@17', 'openssl@3']);
    assert.equal(r.plan.imageRef, '127.0.0.1:5000/kiln/team-a/team/app:1.0');
    assert.equal(r.plan.base.image, 'kiln-root:debian-bookworm');
    assert.equal(r.plan.binary.sha256, upload.sha256);
  });

  it('lists every problem at once', () => {
    const r = planBuild(
      {
        ...good,
        components: ['jdk@99', 'nosuch', 'Bad Name'],
        binaryPath: '../etc/passwd',
        entrypoint: [],
        env: { '1BAD': 'x', OK: 'line\nbreak' },
        image: 'Team/App:latest',
      },
      { ...ctx, upload: undefined },
    );
    assert.equal(r.ok, false);
    if (r.ok) return;
    const fields = r.problems.map((p) => p.field);
    for (const f of ['components[0]', 'components[1]', 'components[2]', 'uploadId', 'binaryPath', 'entrypoint', 'env', 'env.OK', 'image']) {
      assert.ok(fields.includes(f), `expected a problem for ${f}: ${JSON.stringify(r.problems)}`);
    }
    assert.match(r.problems.find((p) => p.field === 'components[0]')!.message, /unknown version "99" of jdk \(versions: [^)]*\b17\b/);
    assert.match(r.problems.find((p) => p.field === 'components[1]')!.message, /unknown component "nosuch"/);
  });

  it('refuses the same component twice and an unknown root', () => {
    const r = planBuild({ ...good, root: 'alpine', components: ['jdk', 'jdk@17'] }, ctx);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.ok(r.problems.some((p) => p.field === 'root' && /unknown root "alpine"/.test(p.message)));
    assert.ok(r.problems.some((p) => p.field === 'components[1]' && /asked twice/.test(p.message)));
  });

  it('refuses image names that are not repository:tag', () => {
    for (const image of ['app', 'app:', ':tag', 'app:tag with space', 'a/../b:1', 'app:1\nRUN x', '127.0.0.1:5000/app:1', 'app@sha256:abc']) {
      const r = planBuild({ ...good, image }, ctx);
      assert.equal(r.ok, false, image);
      if (!r.ok) assert.ok(r.problems.some((p) => p.field === 'image'), image);
    }
  });

  it('refuses env, entrypoint and cmd whose Dockerfile line would pass the engine limit, naming the field', () => {
    const max = MAX_DOCKERFILE_LINE_BYTES;
    const fits = planBuild({ ...good, env: envWithLineBytes(max), entrypoint: argsWithLineBytes('ENTRYPOINT', max), cmd: argsWithLineBytes('CMD', max) }, ctx);
    assert.ok(fits.ok, JSON.stringify(!fits.ok && fits.problems));
    for (const [field, over] of [
      ['env', { env: envWithLineBytes(max + 1) }],
      ['entrypoint', { entrypoint: argsWithLineBytes('ENTRYPOINT', max + 1) }],
      ['cmd', { cmd: argsWithLineBytes('CMD', max + 1) }],
    ] as const) {
      const r = planBuild({ ...good, ...over }, ctx);
      assert.equal(r.ok, false, field);
      if (r.ok) continue;
      assert.deepEqual(r.problems.map((p) => p.field), [field]);
      assert.match(r.problems[0]!.message, new RegExp(`line of ${max + 1} bytes; the engine accepts at most ${max}`));
    }
    // Bytes, not characters: 2-byte characters reach the limit at half the length.
    const wide = planBuild({ ...good, env: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`W${i}`, 'é'.repeat(8000)])) }, ctx);
    assert.equal(wide.ok, false);
  });
});

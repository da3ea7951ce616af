// The catalog as users meet it: GET /v1/components, one 400 naming every resolution problem, and the canonical order
// making builds that list components differently share their layers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, postBuild, upload, waitForBuild } from './helpers/api-client.ts';
import { ensurePulled } from './helpers/docker-run.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

describe('catalog through the API', () => {
  let kiln: TestKiln;
  before(async () => {
    kiln = await startTestKiln({ builder: true });
  });
  after(() => kiln?.close());

  it('GET /v1/components lists components with versions, defaults, constraints and cost estimates', async () => {
    const res = await call(kiln, '/v1/components');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { components: { name: string; default: string; versions: { key: string; requires: { component: string }[]; costEstimateSeconds: number }[] }[] };
    const byName = new Map(body.components.map((c) => [c.name, c]));
    for (const name of ['jdk', 'openssl', 'gcc', 'cuda']) assert.ok(byName.has(name), name);
    assert.equal(byName.get('jdk')!.default, '17');
    const cuda = byName.get('cuda')!.versions.find((v) => v.key === 'cuda@11.8')!;
    assert.deepEqual(cuda.requires.map((r) => r.component), ['gcc']);
    assert.ok(cuda.costEstimateSeconds > byName.get('openssl')!.versions[0]!.costEstimateSeconds);
  });

  it('an unknown component, an unknown version and a broken constraint get one 400 naming all three', async () => {
    const up = await upload(kiln, Buffer.from('#!/bin/sh\necho hi\n'));
    const res = await postBuild(kiln, {
      components: ['nosuch', 'jdk@99', 'cuda@11.8'],
      uploadId: up.body.id,
      binaryPath: '/usr/local/bin/hi',
      entrypoint: ['/usr/local/bin/hi'],
      image: 'catalog/bad:1',
    });
    assert.equal(res.status, 400);
    const problems = res.body.problems as { field: string; message: string }[];
    assert.equal(problems.length, 3, JSON.stringify(problems));
    assert.match(problems.find((p) => p.field === 'components[0]')!.message, /unknown component "nosuch"/);
    assert.match(problems.find((p) => p.field === 'components[1]')!.message, /unknown version "99" of jdk \(versions: .*17/);
    assert.match(problems.find((p) => p.field === 'components[2]')!.message, /cuda@11\.8 requires gcc >=11 <13/);
  });

  it('two builds listing the same components in another order share every component layer', async () => {
    const images: string[] = [];
    // A set no other test file builds, so that concurrent tests cannot touch this engine's cache for it meanwhile.
    for (const [i, components] of [['openssl@3', 'gcc@11'], ['gcc@11', 'openssl']].entries()) {
      const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho build ${i}\n`));
      const res = await postBuild(kiln, {
        components,
        uploadId: up.body.id,
        binaryPath: '/usr/local/bin/app',
        entrypoint: ['/usr/local/bin/app'],
        image: `catalog/order${i}:1`,
      });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const build = await waitForBuild(kiln, res.body.id);
      assert.equal(build.status, 'succeeded', build.error ?? '');
      assert.deepEqual(build.plan.components.map((c) => c.key), ['gcc@11', 'openssl@3']);
      if (i === 1) assert.ok(build.steps.filter((s) => s.component !== 'binary' && s.kind !== 'push').every((s) => s.cached), JSON.stringify(build.steps));
      images.push(build.imageRef);
    }
    // Builders remove what they pushed; the registry's copies are what users get.
    for (const ref of images) await ensurePulled(kiln.infra.docker, ref);
    const [a, b] = await Promise.all(images.map(async (ref) => (await kiln.infra.docker.getImage(ref).inspect()).RootFS.Layers ?? []));
    assert.equal(a!.length, b!.length);
    assert.deepEqual(a!.slice(0, -1), b!.slice(0, -1), 'root, gcc and openssl layers are the same layers');
    assert.notEqual(a!.at(-1), b!.at(-1), 'only the binary layer differs');

    // What the layer cache spared the second build is counted, as templates' and composition's savings are.
    const stats = (await (await call(kiln, '/v1/stats')).json()) as { buildsCached: number; secondsSavedCache: number; secondsSavedCacheEstimated: number };
    assert.ok(stats.buildsCached >= 1 && stats.secondsSavedCache > 0, JSON.stringify(stats));
    const days = ((await (await call(kiln, '/v1/stats/daily?days=2')).json()) as { days: { secondsSavedCache: number }[] }).days;
    // (summed by PostgreSQL in single precision: the same seconds to a millisecond)
    const charted = days.reduce((n, d) => n + d.secondsSavedCache, 0);
    assert.ok(Math.abs(charted - stats.secondsSavedCache) < 0.01, `the chart counts the same seconds: ${charted} vs ${stats.secondsSavedCache}`);
  });
});

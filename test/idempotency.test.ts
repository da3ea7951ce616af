// Idempotency-Key on POST /v1/builds, as a CI job that retries meets it: the same key and body make one build (also
// when the retries race), the same key with another body is 409 — on both databases.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, postBuild, upload } from './helpers/api-client.ts';
import { dbKinds, startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

for (const db of dbKinds) {
  describe(`Idempotency-Key on ${db}`, () => {
    let kiln: TestKiln;
    let uploadId: string;
    before(async () => {
      kiln = await startTestKiln({ db });
      uploadId = (await upload(kiln, Buffer.from('#!/bin/sh\necho once\n'))).body.id;
    });
    after(() => kiln?.close());

    const spec = (tag: string) => ({ uploadId, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image: `idem/app:${tag}` });
    const builds = async () => ((await (await call(kiln, '/v1/builds')).json()) as { items: { id: string }[] }).items;
    const jobs = async () => Object.values(await kiln.api.buildQueue.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).reduce((a, b) => a + b, 0);

    it('the same key and body twice create one build and one job', async () => {
      const before = { builds: (await builds()).length, jobs: await jobs() };
      const first = await postBuild(kiln, spec('1'), { 'idempotency-key': 'ci-run-1' });
      assert.equal(first.status, 202, JSON.stringify(first.body));
      assert.equal(first.headers.get('idempotent-replayed'), null);
      // The same body with its keys in another order is the same request.
      const { image, ...rest } = spec('1');
      const second = await postBuild(kiln, { image, ...rest }, { 'idempotency-key': 'ci-run-1' });
      assert.equal(second.status, 202);
      assert.equal(second.body.id, first.body.id);
      assert.equal(second.headers.get('idempotent-replayed'), 'true');
      assert.equal((await builds()).length, before.builds + 1);
      assert.equal(await jobs(), before.jobs + 1);
    });

    it('the same key with another body is 409 and creates nothing', async () => {
      const first = await postBuild(kiln, spec('2'), { 'idempotency-key': 'ci-run-2' });
      assert.equal(first.status, 202);
      const count = (await builds()).length;
      const other = await postBuild(kiln, spec('other'), { 'idempotency-key': 'ci-run-2' });
      assert.equal(other.status, 409);
      assert.equal(other.body.type, 'urn:kiln:problem:conflict');
      assert.match(other.body.detail, /ci-run-2.*different request body/);
      assert.equal((await builds()).length, count);
    });

    it('racing retries with one key still make one build', async () => {
      const count = (await builds()).length;
      const answers = await Promise.all(Array.from({ length: 6 }, () => postBuild(kiln, spec('3'), { 'idempotency-key': 'ci-run-3' })));
      assert.deepEqual(answers.map((a) => a.status), Array(6).fill(202));
      assert.equal(new Set(answers.map((a) => a.body.id)).size, 1);
      assert.equal((await builds()).length, count + 1);
    });

    it('without a key, each request is a new build; a bad key is 400', async () => {
      const a = await postBuild(kiln, spec('4'));
      const b = await postBuild(kiln, spec('4'));
      assert.notEqual(a.body.id, b.body.id);
      const bad = await postBuild(kiln, spec('4'), { 'idempotency-key': 'has space' });
      assert.equal(bad.status, 400);
    });
  });
}

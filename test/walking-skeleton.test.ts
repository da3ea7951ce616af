// A binary in through REST, a runnable image out in the registry — on the real engine, registry, S3, Redis, and both
// databases (embedded PGlite and PostgreSQL).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { brokenCatalog } from './helpers/catalogs.ts';
import { call, getBuild, postBuild, upload, waitForBuild } from './helpers/api-client.ts';
import { pull, runImage } from './helpers/docker-run.ts';
import { helloJar } from './helpers/programs.ts';
import { manifestDigest } from './helpers/registry-client.ts';
import { dbKinds, startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

for (const db of dbKinds) {
  describe(`walking skeleton on ${db}`, () => {
    let kiln: TestKiln;
    let jar: Buffer;
    before(async () => {
      [kiln, jar] = await Promise.all([startTestKiln({ db, builder: true }), helloJar(`hello from ${db}`)]);
    });
    after(() => kiln?.close());

    it('uploads a jar, builds it with jdk@17, pushes it, and the pushed image runs', async () => {
      const up = await upload(kiln, jar, 'hello.jar');
      assert.equal(up.status, 201);
      assert.equal(up.body.sha256, createHash('sha256').update(jar).digest('hex'));
      assert.equal(up.body.size, jar.length);

      const again = await upload(kiln, jar);
      assert.equal(again.body.id, up.body.id, 'the same bytes twice are the same upload');
      assert.equal((await kiln.objectKeys()).filter((k) => k.startsWith('uploads/')).length, 1, 'and one object');

      const res = await postBuild(kiln, {
        root: 'debian-bookworm',
        components: ['jdk@17'],
        uploadId: up.body.id,
        binaryPath: '/opt/app/hello.jar',
        entrypoint: ['java', '-jar', '/opt/app/hello.jar'],
        cmd: ['and', 'welcome'],
        env: { KILN_TEST_ENV: 'it is $HOME "quoted"' },
        image: 'skeleton/hello:v1',
      });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const build = await waitForBuild(kiln, res.body.id);
      assert.equal(build.status, 'succeeded', build.error ?? '');

      // The registry serves the tag with the digest kiln recorded.
      const repository = `${kiln.config.REGISTRY_PREFIX}/${kiln.project}/skeleton/hello`;
      assert.equal(build.imageRef, `${kiln.config.REGISTRY_HOST}/${repository}:v1`);
      assert.match(build.digest ?? '', /^sha256:[0-9a-f]{64}$/);
      assert.equal(await manifestDigest(kiln.config.REGISTRY_HOST, repository, 'v1'), build.digest);

      // One timing per plan step (the component, then the binary), then the push with the bytes it uploaded.
      assert.deepEqual(build.steps.map((s) => s.component), ['jdk@17', 'binary', 'push']);
      assert.equal(build.steps.at(-1)?.kind, 'push');
      for (const s of build.steps) assert.ok(s.seconds >= 0);
      const push = build.steps.at(-1) as unknown as { bytes: number | null };
      assert.ok((push.bytes ?? 0) > 0, 'the push uploaded the new layers');

      // Drop the local copy and pull it back from the registry: what runs is what was pushed.
      // The builder removed its local copy after the push (housekeeping); the registry's copy is what users get.
      await assert.rejects(kiln.infra.docker.getImage(build.imageRef).inspect(), { statusCode: 404 });
      await pull(kiln.infra.docker, build.imageRef);
      const run = await runImage(kiln.infra.docker, build.imageRef);
      assert.equal(run.code, 0, run.output);
      assert.equal(run.output.trim(), `hello from ${db} and welcome env=it is $HOME "quoted"`);

      const labels = (await kiln.infra.docker.getImage(build.imageRef).inspect()).Config.Labels;
      assert.equal(labels['dev.kiln.build-id'], build.id);
      assert.equal(labels['dev.kiln.upload-sha256'], up.body.sha256);

      const logs = await call(kiln, `/v1/builds/${build.id}/logs`);
      const text = await logs.text();
      assert.match(text, /Step 2\/\d+ : RUN .*openjdk-17-jdk-headless/);
      assert.match(text, /kiln: pushed .*@sha256:/);
    });

    it('a failing component step ends the build failed with the failing command, once, and pushes nothing', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'kiln-broken-'));
      const broken = await startTestKiln({ db, builder: true, env: { KILN_CATALOG_DIR: await brokenCatalog(dir) } });
      try {
        const up = await upload(broken, jar);
        const res = await postBuild(broken, {
          components: ['broken'],
          uploadId: up.body.id,
          binaryPath: '/app.jar',
          entrypoint: ['true'],
          image: 'skeleton/broken:v1',
        });
        assert.equal(res.status, 202, JSON.stringify(res.body));
        const build = await waitForBuild(broken, res.body.id);
        assert.equal(build.status, 'failed');
        assert.match(build.error ?? '', /step broken@1 failed: The command '\/bin\/sh -c .*kiln-no-such-package.*' returned a non-zero code/);
        assert.equal(build.attempts, 1, 'a recipe failure is not retried');
        assert.equal(await manifestDigest(broken.config.REGISTRY_HOST, `${broken.config.REGISTRY_PREFIX}/${broken.project}/skeleton/broken`, 'v1'), undefined);
        const logs = await (await call(broken, `/v1/builds/${build.id}/logs`)).text();
        assert.match(logs, /permanent/);
      } finally {
        await broken.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('a bad request gets one 400 naming every problem and enqueues nothing', async () => {
      const res = await postBuild(kiln, {
        root: 'debian-bookworm',
        components: ['jdk@17', 'nosuch@1', 'jdk@8'],
        uploadId: '00000000-0000-4000-8000-000000000000',
        binaryPath: 'relative/path',
        entrypoint: ['java'],
        image: 'Not A Name',
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.type, 'urn:kiln:problem:validation');
      const fields = (res.body.problems as { field: string }[]).map((p) => p.field).sort();
      assert.deepEqual(fields, ['binaryPath', 'components[1]', 'components[2]', 'image', 'uploadId']);
      const counts = await kiln.api.buildQueue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
      const before = Object.values(counts).reduce((a, b) => a + b, 0);

      const typed = await postBuild(kiln, { components: 'jdk', entrypoint: [1], extra: true });
      assert.equal(typed.status, 400);
      const typedFields = (typed.body.problems as { field: string }[]).map((p) => p.field);
      for (const f of ['components', 'uploadId', 'binaryPath', 'image']) assert.ok(typedFields.some((x) => x.startsWith(f)), `${f} in ${typedFields}`);

      const after = await kiln.api.buildQueue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
      assert.equal(Object.values(after).reduce((a, b) => a + b, 0), before, 'nothing was enqueued');
    });

    it('an unknown build is a 404 problem', async () => {
      const res = await call(kiln, '/v1/builds/00000000-0000-4000-8000-000000000000');
      assert.equal(res.status, 404);
      assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      await assert.rejects(getBuild(kiln, 'nope'), /404/);
    });
  });
}


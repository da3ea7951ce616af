// Projects and tokens as users meet them: a project sees only its own uploads, builds and logs (another project's are
// 404), tokens are kept only as hashes, revoked tokens get 401, admin routes refuse project tokens, and build creation
// is rate-limited per token — on both databases.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { createBuildStore } from '../core/db/build-store.ts';
import { call, postBuild, upload, type Target } from './helpers/api-client.ts';
import { dbKinds, startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const spec = (uploadId: string, image: string) => ({ uploadId, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image });

async function json(res: Response): Promise<any> {
  return res.json();
}

/** An admin creates a project and a token of it, through the API. */
async function newProject(kiln: TestKiln, name: string): Promise<Target & { tokenId: string }> {
  const admin = { url: kiln.url, token: kiln.adminToken };
  const project = await call(admin, '/v1/projects', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  assert.equal(project.status, 201, await project.clone().text());
  const res = await call(admin, '/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ci', project: name }) });
  assert.equal(res.status, 201);
  const body = await json(res);
  return { url: kiln.url, token: body.token, tokenId: body.id };
}

/** Every text value in every table of the database, as one string. */
async function everythingInTheDatabase(kiln: TestKiln): Promise<string> {
  const db = kiln.infra.database.db;
  const tables = (await db.execute(sql`select table_name from information_schema.tables where table_schema = 'public'`)) as unknown as { rows: { table_name: string }[] };
  let all = '';
  for (const { table_name } of tables.rows) {
    const rows = (await db.execute(sql`select t::text as row from ${sql.identifier(table_name)} t`)) as unknown as { rows: { row: string }[] };
    all += rows.rows.map((r) => r.row).join('\n');
  }
  return all;
}

for (const db of dbKinds) {
  describe(`projects and tokens on ${db}`, () => {
    let kiln: TestKiln;
    let a: Target;
    let b: Target & { tokenId: string };
    before(async () => {
      kiln = await startTestKiln({ db });
      a = kiln;
      b = await newProject(kiln, 'team-b');
    });
    after(() => kiln?.close());

    it('answers 401 problem+json without a token or with an unknown one, and serves /healthz without one', async () => {
      const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer kiln_nope' }, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }];
      for (const headers of attempts) {
        const res = await fetch(`${kiln.url}/v1/builds`, { headers });
        assert.equal(res.status, 401);
        assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
        assert.equal((await json(res)).type, 'urn:kiln:problem:unauthorized');
      }
      // An unauthenticated upload is refused before its body is stored.
      const up = await fetch(`${kiln.url}/v1/uploads`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'x' });
      assert.equal(up.status, 401);
      assert.equal((await kiln.objectKeys()).length, 0);
      assert.equal((await fetch(`${kiln.url}/healthz`)).status, 200);
    });

    it("gives project A 404 for every read of project B's upload, build and log, and lists only A's", async () => {
      const bUpload = await upload(b, Buffer.from('#!/bin/sh\necho b\n'), 'b.sh');
      assert.equal(bUpload.status, 201);
      const bBuild = await postBuild(b, spec(bUpload.body.id, 'app/b:1'));
      assert.equal(bBuild.status, 202, JSON.stringify(bBuild.body));
      const aUpload = await upload(a, Buffer.from('#!/bin/sh\necho a\n'), 'a.sh');
      const aBuilds = [];
      for (const tag of ['1', '2']) aBuilds.push((await postBuild(a, spec(aUpload.body.id, `app/a:${tag}`))).body.id as string);
      // One of A's builds failed, so the status filter has something to tell apart.
      await createBuildStore(kiln.infra.database.db).finish(aBuilds[0]!, { status: 'failed', error: 'test' });

      for (const path of [`/v1/uploads/${bUpload.body.id}`, `/v1/builds/${bBuild.body.id}`, `/v1/builds/${bBuild.body.id}/logs`, `/v1/builds/${bBuild.body.id}?wait=1`]) {
        const res = await call(a, path);
        assert.equal(res.status, 404, path);
        assert.equal((await json(res)).type, 'urn:kiln:problem:not-found');
        assert.equal((await call(b, path)).status, 200, `${path} is B's own`);
      }
      // Nor can A build from B's binary: to A it does not exist.
      const stolen = await postBuild(a, spec(bUpload.body.id, 'app/stolen:1'));
      assert.equal(stolen.status, 400);
      assert.deepEqual(stolen.body.problems.map((p: { field: string }) => p.field), ['uploadId']);

      const builds = await json(await call(a, '/v1/builds'));
      assert.deepEqual(builds.items.map((x: { id: string }) => x.id).sort(), [...aBuilds].sort());
      const failed = await json(await call(a, '/v1/builds?status=failed'));
      assert.deepEqual(failed.items.map((x: { id: string }) => x.id), [aBuilds[0]]);
      const queued = await json(await call(a, '/v1/builds?status=queued&limit=10'));
      assert.deepEqual(queued.items.map((x: { id: string }) => x.id), [aBuilds[1]]);
      assert.deepEqual((await json(await call(a, '/v1/uploads'))).items.map((u: { id: string }) => u.id), [aUpload.body.id]);
      assert.deepEqual((await json(await call(b, '/v1/builds'))).items.map((x: { id: string }) => x.id), [bBuild.body.id]);
      assert.equal((await call(a, '/v1/builds?status=bogus')).status, 400);

      // Each project's images live under its own namespace in the registry.
      const bView = await json(await call(b, `/v1/builds/${bBuild.body.id}`));
      assert.equal(bView.imageRef, `${kiln.config.REGISTRY_HOST}/${kiln.config.REGISTRY_PREFIX}/team-b/app/b:1`);

      // An admin acts in the project it names (and B's token cannot act in A's).
      const asAdmin = await call({ url: kiln.url, token: kiln.adminToken }, `/v1/builds/${bBuild.body.id}`, { headers: { 'x-kiln-project': 'team-b' } });
      assert.equal(asAdmin.status, 200);
      assert.equal((await call(b, '/v1/builds', { headers: { 'x-kiln-project': kiln.project } })).status, 403);
      assert.equal((await call({ url: kiln.url, token: kiln.adminToken }, '/v1/builds', { headers: { 'x-kiln-project': 'nosuch' } })).status, 404);
    });

    it('keeps only a hash of each token, and a revoked token gets 401', async () => {
      const c = await newProject(kiln, 'team-c');
      assert.match(c.token!, /^kiln_[A-Za-z0-9_-]{43}$/);
      const me = await call(c, '/v1/me');
      assert.equal(me.status, 200);
      assert.deepEqual(await json(me), { project: 'team-c', admin: false, tokenId: c.tokenId });

      const stored = await everythingInTheDatabase(kiln);
      assert.ok(stored.includes(createHash('sha256').update(c.token!).digest('hex')), 'the hash is stored');
      for (const token of [c.token!, a.token!, b.token!]) {
        assert.ok(!stored.includes(token), 'no clear token anywhere in the database');
        assert.ok(!stored.includes(token.slice('kiln_'.length)), 'not even without its prefix');
      }
      const listed = await json(await call({ url: kiln.url, token: kiln.adminToken }, '/v1/tokens?project=team-c'));
      assert.deepEqual(Object.keys(listed.items[0]).sort(), ['createdAt', 'id', 'name', 'project', 'revokedAt']);

      const revoked = await call({ url: kiln.url, token: kiln.adminToken }, `/v1/tokens/${c.tokenId}`, { method: 'DELETE' });
      assert.equal(revoked.status, 200);
      assert.ok((await json(revoked)).revokedAt);
      const after = await call(c, '/v1/me');
      assert.equal(after.status, 401);
      assert.match((await json(after)).detail, /revoked/);
      assert.equal((await call(c, '/v1/builds')).status, 401);
    });

    it('refuses admin routes to project tokens with 403 and checks what admins send', async () => {
      const res = await call(a, '/v1/projects', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'mine' }) });
      assert.equal(res.status, 403);
      assert.equal((await json(res)).type, 'urn:kiln:problem:forbidden');
      assert.equal((await call(a, '/v1/tokens')).status, 403);

      const admin = { url: kiln.url, token: kiln.adminToken };
      const post = (body: unknown) => call(admin, '/v1/projects', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const bad = await post({ name: 'Not A/Name' });
      assert.equal(bad.status, 400);
      assert.equal((await json(bad)).problems[0].field, 'name');
      assert.equal((await post({ name: 'team-b' })).status, 409);
      for (const name of ['kiln-templates', 'kiln-roots']) {
        const reserved = await post({ name });
        assert.equal(reserved.status, 400, `${name} would share the path of kiln's own images`);
        assert.match((await json(reserved)).problems[0].message, /reserved for kiln's own images/);
      }
      const huge = await post({ name: 'x', description: 'y'.repeat(20_000) });
      assert.equal(huge.status, 413, 'admin bodies are small');
    });
  });
}

describe('build rate limit', () => {
  let kiln: TestKiln;
  before(async () => {
    kiln = await startTestKiln({ env: { KILN_BUILD_RATE_LIMIT: '3' } });
  });
  after(() => kiln?.close());

  it('answers 429 with a message and Retry-After past the per-token limit, and other tokens are not affected', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await postBuild(kiln, spec('00000000-0000-4000-8000-000000000000', 'x/y:1'))).status);
    assert.deepEqual(statuses, [400, 400, 400]);
    const limited = await postBuild(kiln, spec('00000000-0000-4000-8000-000000000000', 'x/y:1'));
    assert.equal(limited.status, 429);
    assert.equal(limited.body.type, 'urn:kiln:problem:rate-limited');
    assert.match(limited.body.detail, /this token may create at most 3 builds a minute; retry in \d+ (seconds?|minute)/);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);

    const other = await newProject(kiln, 'other');
    assert.equal((await postBuild(other, spec('00000000-0000-4000-8000-000000000000', 'x/y:1'))).status, 400);
    // Reads are not limited.
    assert.equal((await call(kiln, '/v1/builds')).status, 200);
  });
});

// The image catalog on the real parts: every pushed image is recorded with what it is made of; GET /v1/images filters
// by each field and never shows another project's images; DELETE removes the manifest from the registry; and a
// pushed image carries the OCI labels registries and scanners read (checked with skopeo, as they would).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { call, postBuild, upload, waitForBuild, type Target } from './helpers/api-client.ts';
import { pastBuilds } from './helpers/past-builds.ts';
import { tagManifest } from './helpers/registry-client.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const run = promisify(execFile);

interface ImageView {
  id: string;
  repository: string;
  tag: string;
  imageRef: string;
  digest: string;
  components: string[];
  templateId: string | null;
  uploadSha256: string;
  buildId: string;
  status: string;
  pushedAt: string;
  deletedBy: string | null;
}

const settings = {
  // One build of openssl is history enough for a template of it (installs here take seconds, not an hour).
  KILN_TEMPLATE_MAX: '1',
  KILN_TEMPLATE_MIN_SUPPORT: '1',
  KILN_TEMPLATE_MIN_SECONDS: '0',
  KILN_TEMPLATE_STORAGE_SECONDS_PER_GIB: '0',
  KILN_ANALYZER_INTERVAL_SECONDS: '0',
  KILN_RETENTION_INTERVAL_SECONDS: '0',
};

async function build(target: Target, image: string, components: string[], binary: string, extra: Record<string, unknown> = {}) {
  const up = await upload(target, Buffer.from(`#!/bin/sh\necho ${binary}\n`), 'app');
  assert.equal(up.status, 201);
  const res = await postBuild(target, { components, uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image, ...extra });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const b = await waitForBuild(target, res.body.id);
  assert.equal(b.status, 'succeeded', b.error ?? '');
  return { ...b, sha256: up.body.sha256 } as typeof b & { sha256: string; plan: { base: { kind: string; templateId?: string } } };
}

async function list(target: Target, query = ''): Promise<{ items: ImageView[]; nextCursor?: string }> {
  const res = await call(target, `/v1/images${query ? `?${query}` : ''}`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as { items: ImageView[]; nextCursor?: string };
}
const refs = (items: ImageView[]) => items.map((i) => `${i.repository}:${i.tag}`);

describe('image catalog', { timeout: 900_000 }, () => {
  let kiln: TestKiln;
  let other: Target;
  const built: Record<string, Awaited<ReturnType<typeof build>>> = {};

  before(async () => {
    kiln = await startTestKiln({ db: 'postgres', builder: true, analyzer: true, env: settings });
    const admin = { url: kiln.url, token: kiln.adminToken };
    assert.equal((await call(admin, '/v1/projects', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'other' }) })).status, 201);
    const tok = await call(admin, '/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 't', project: 'other' }) });
    other = { url: kiln.url, token: ((await tok.json()) as { token: string }).token };

    built.a1 = await build(kiln, 'cat/a:1', ['openssl'], 'one', { source: 'https://git.example.com/team/a', revision: '0123abcd' });
    built.a2 = await build(kiln, 'cat/a:2', [], 'two');
    built.b1 = await build(kiln, 'cat/b:1', ['openssl@3'], 'one');
    // The engine's cache (shared with every test) served openssl's install, which the analyzer rightly discounts:
    // builds on hosts whose cache did not have it are the history that makes a template worth it.
    await pastBuilds(kiln, [{ component: 'openssl@3', seconds: 30 }], 3);
    const analysis = await call(admin, '/v1/analyzer/run?wait=60', { method: 'POST' });
    assert.equal(analysis.status, 200);
    for (let deadline = Date.now() + 240_000; ; ) {
      const { templates } = (await (await call(kiln, '/v1/templates')).json()) as { templates: { status: string }[] };
      if (templates[0]?.status === 'ready') break;
      assert.ok(Date.now() < deadline && templates[0]?.status === 'building', JSON.stringify(templates));
      await new Promise((r) => setTimeout(r, 500));
    }
    built.c1 = await build(kiln, 'cat/c:1', ['openssl'], 'three');
    assert.equal(built.c1.plan.base.kind, 'template');
    built.a1again = await build(kiln, 'cat/a:1', [], 'four');
    built.otherA1 = await build(other, 'cat/a:1', ['openssl'], 'one');
  });
  after(() => kiln?.close());

  it('lists the project’s pushed images newest first, a re-pushed tag superseding the older image', async () => {
    const { items } = await list(kiln);
    assert.deepEqual(refs(items), ['cat/a:1', 'cat/c:1', 'cat/b:1', 'cat/a:2', 'cat/a:1']);
    assert.deepEqual(items.map((i) => i.buildId), [built.a1again!.id, built.c1!.id, built.b1!.id, built.a2!.id, built.a1!.id]);
    assert.deepEqual(items.map((i) => i.status), ['current', 'current', 'current', 'current', 'superseded']);
    const c1 = items[1]!;
    assert.equal(c1.digest, built.c1!.digest);
    assert.equal(c1.imageRef, built.c1!.imageRef);
    assert.deepEqual(c1.components, ['openssl@3']);
    assert.equal(c1.templateId, built.c1!.plan.base.templateId);
    assert.equal(c1.uploadSha256, built.c1!.sha256);
  });

  it('filters by repository, tag, component (name or name@version), template, binary sha256 and status', async () => {
    assert.deepEqual(refs((await list(kiln, 'repository=cat/a')).items), ['cat/a:1', 'cat/a:2', 'cat/a:1']);
    assert.deepEqual(refs((await list(kiln, 'tag=1')).items), ['cat/a:1', 'cat/c:1', 'cat/b:1', 'cat/a:1']);
    assert.deepEqual((await list(kiln, 'component=openssl')).items.map((i) => i.buildId), [built.c1!.id, built.b1!.id, built.a1!.id]);
    assert.deepEqual((await list(kiln, 'component=openssl@3')).items.map((i) => i.buildId), [built.c1!.id, built.b1!.id, built.a1!.id]);
    assert.deepEqual((await list(kiln, 'component=openssl@1.1')).items, []);
    assert.deepEqual((await list(kiln, `template=${built.c1!.plan.base.templateId}`)).items.map((i) => i.buildId), [built.c1!.id]);
    assert.deepEqual((await list(kiln, `sha256=${built.a1!.sha256}`)).items.map((i) => i.buildId), [built.b1!.id, built.a1!.id]);
    assert.deepEqual((await list(kiln, 'status=superseded')).items.map((i) => i.buildId), [built.a1!.id]);
    assert.deepEqual((await list(kiln, 'repository=cat/a&status=current')).items.map((i) => i.buildId), [built.a1again!.id, built.a2!.id]);
    const bad = await call(kiln, '/v1/images?component=Bad!&sha256=xyz&status=gone');
    assert.equal(bad.status, 400);
    assert.deepEqual(((await bad.json()) as { problems: { field: string }[] }).problems.map((p) => p.field).sort(), ['component', 'sha256', 'status']);
  });

  it('filters by date range, and pages through everything exactly once', async () => {
    // The first image was pushed "three days ago".
    await kiln.infra.database.db.execute(sql`update images set pushed_at = now() - interval '3 days' where build_id = ${built.a1!.id}`);
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    assert.deepEqual((await list(kiln, `until=${twoDaysAgo}`)).items.map((i) => i.buildId), [built.a1!.id]);
    assert.equal((await list(kiln, `since=${twoDaysAgo}`)).items.length, 4);
    assert.equal((await call(kiln, `/v1/images?since=${twoDaysAgo}&until=${twoDaysAgo}`)).status, 400);

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await list(kiln, `limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((i) => i.buildId));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, [built.a1again!.id, built.c1!.id, built.b1!.id, built.a2!.id, built.a1!.id]);
    assert.equal((await call(kiln, '/v1/images?cursor=garbage')).status, 400);
  });

  it('never shows another project’s images, even of the same repository, and answers 404 for them', async () => {
    const mine = await list(kiln);
    assert.ok(!mine.items.some((i) => i.buildId === built.otherA1!.id));
    const theirs = await list(other);
    assert.deepEqual(theirs.items.map((i) => i.buildId), [built.otherA1!.id]);
    const theirId = theirs.items[0]!.id;
    assert.equal((await call(kiln, `/v1/images/${theirId}`)).status, 404);
    assert.equal((await call(kiln, `/v1/images/${theirId}`, { method: 'DELETE' })).status, 404);
    assert.equal((await list(other)).items[0]!.status, 'current', 'untouched');
    assert.equal((await call(other, `/v1/images/${theirId}`)).status, 200);
  });

  it('DELETE removes the manifest from the registry and marks the image deleted', async () => {
    const [a2] = (await list(kiln, 'repository=cat/a&tag=2')).items;
    const repository = `${kiln.config.REGISTRY_PREFIX}/${kiln.project}/cat/a`;
    assert.equal(await kiln.infra.registry.manifestDigest(repository, '2'), a2!.digest);
    const res = await call(kiln, `/v1/images/${a2!.id}`, { method: 'DELETE' });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as ImageView).status, 'deleted');
    assert.equal(await kiln.infra.registry.manifestDigest(repository, '2'), undefined);
    assert.deepEqual((await kiln.infra.registry.tags(repository)).sort(), ['1']);
    assert.deepEqual((await list(kiln, 'status=deleted')).items.map((i) => [i.id, i.deletedBy]), [[a2!.id, 'user']]);
    assert.equal((await call(kiln, `/v1/images/${a2!.id}`, { method: 'DELETE' })).status, 200, 'deleting it again answers it as it is');
  });

  it('DELETE refuses, naming the tag, when another tag points at the same manifest', async () => {
    const [b1] = (await list(kiln, 'repository=cat/b')).items;
    const repository = `${kiln.config.REGISTRY_PREFIX}/${kiln.project}/cat/b`;
    await tagManifest(kiln.infra.registry, repository, '1', 'pinned');
    const res = await call(kiln, `/v1/images/${b1!.id}`, { method: 'DELETE' });
    assert.equal(res.status, 409);
    assert.match(((await res.json()) as { detail: string }).detail, new RegExp(`tag ${repository}:pinned points at the same manifest`));
    assert.equal(await kiln.infra.registry.manifestDigest(repository, '1'), b1!.digest, 'nothing was deleted');
    assert.equal((await list(kiln, 'repository=cat/b')).items[0]!.status, 'current');
  });

  it('a pushed image carries the OCI labels, as skopeo reads them', async (t) => {
    const inspect = async (ref: string) => {
      const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]);
      return (JSON.parse(stdout) as { Labels: Record<string, string> }).Labels;
    };
    const fromRoot = await inspect(built.a1!.imageRef.replace(/:1$/, `@${built.a1!.digest}`));
    t.diagnostic(JSON.stringify(Object.fromEntries(Object.entries(fromRoot).filter(([k]) => k.startsWith('org.opencontainers')))));
    assert.equal(fromRoot['org.opencontainers.image.title'], 'cat/a');
    assert.equal(fromRoot['org.opencontainers.image.version'], '1');
    assert.equal(fromRoot['org.opencontainers.image.source'], 'https://git.example.com/team/a');
    assert.equal(fromRoot['org.opencontainers.image.revision'], '0123abcd');
    assert.ok(Math.abs(Date.parse(fromRoot['org.opencontainers.image.created']!) - Date.now()) < 30 * 60_000);
    // The root, as this builder published it: a name anyone can pull, and the digest that name had.
    const rootName = fromRoot['org.opencontainers.image.base.name']!;
    assert.match(rootName, new RegExp(`^${kiln.config.REGISTRY_HOST.replace(/\./g, '\\.')}/${kiln.config.REGISTRY_PREFIX}/kiln-roots/debian-bookworm:[0-9a-f]{12}$`));
    const [rootRepo, rootTag] = [rootName.slice(kiln.config.REGISTRY_HOST.length + 1, rootName.lastIndexOf(':')), rootName.slice(rootName.lastIndexOf(':') + 1)];
    assert.equal(fromRoot['org.opencontainers.image.base.digest'], await kiln.infra.registry.manifestDigest(rootRepo, rootTag));
    assert.equal(fromRoot['dev.kiln.build-id'], built.a1!.id);

    const fromTemplate = await inspect(built.c1!.imageRef);
    const [template] = ((await (await call(kiln, '/v1/templates')).json()) as { templates: { imageRef: string; digest: string }[] }).templates;
    assert.equal(fromTemplate['org.opencontainers.image.base.name'], template!.imageRef);
    assert.equal(fromTemplate['org.opencontainers.image.base.digest'], template!.digest);
    assert.equal('org.opencontainers.image.source' in fromTemplate, false, 'nobody supplied one');
  });
});

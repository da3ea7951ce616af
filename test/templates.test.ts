// Templates end to end on the real parts: history → analysis → a template built and pushed → the next build of a
// superset starts FROM it and installs only the rest → a recipe change makes it stale, nothing uses it, analysis
// rebuilds it and removes the stale image.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadCatalog } from '../core/catalog/catalog-loader.ts';
import { call, postBuild, upload, waitForBuild } from './helpers/api-client.ts';
import { runSmoke } from './helpers/component-image.ts';
import { pastBuilds } from './helpers/past-builds.ts';
import { manifestDigest } from './helpers/registry-client.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

interface TemplateView {
  id: string;
  status: string;
  imageRef: string;
  digest: string | null;
  hits: number;
  secondsSaved: number;
  components: { key: string; recipeHash: string }[];
}

const settings = {
  KILN_TEMPLATE_MAX: '1',
  KILN_TEMPLATE_MIN_SUPPORT: '2',
  // Installs on this machine's mirror take seconds, not the hour they take on a real network.
  KILN_TEMPLATE_MIN_SECONDS: '0',
  KILN_TEMPLATE_STORAGE_SECONDS_PER_GIB: '0',
  KILN_TEMPLATE_GRACE_SECONDS: '0',
  // Analyses run when the test asks; the schedule has its own test.
  KILN_ANALYZER_INTERVAL_SECONDS: '0',
};

async function templates(kiln: TestKiln): Promise<TemplateView[]> {
  return ((await (await call(kiln, `/v1/templates`)).json()) as { templates: TemplateView[] }).templates;
}

async function waitForTemplate(kiln: TestKiln, pred: (t: TemplateView) => boolean, timeoutMs = 240_000): Promise<TemplateView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await templates(kiln)).find(pred);
    if (found && found.status !== 'building') return found;
    if (Date.now() > deadline) throw new Error(`no template reached a final state: ${JSON.stringify(await templates(kiln))}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function analyze(kiln: TestKiln) {
  // Templates serve every project: a project token may read them but not run the analyzer.
  assert.equal((await call(kiln, `/v1/analyzer/run?wait=0`, { method: 'POST' })).status, 403);
  const res = await call({ url: kiln.url, token: kiln.adminToken }, `/v1/analyzer/run?wait=60`, { method: 'POST' });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as { summary: string; decisions: { build: { key: string }[]; stale: { id: string; reason: string }[]; imagesDeleted: string[] } };
}

async function build(kiln: TestKiln, components: string[], n: number) {
  const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho templated ${n}\n`));
  const res = await postBuild(kiln, { components, uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image: `tpl/app${n}:1` });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const b = await waitForBuild(kiln, res.body.id);
  assert.equal(b.status, 'succeeded', b.error ?? '');
  return b as typeof b & { plan: { base: { kind: string; templateId?: string; covers?: string[]; secondsSaved?: number } } };
}

describe('templates', () => {
  let catalogDir: string;
  let kiln: TestKiln;
  before(async () => {
    catalogDir = await mkdtemp(path.join(tmpdir(), 'kiln-tpl-catalog-'));
    await cp(path.resolve(import.meta.dirname, '../base-images'), catalogDir, { recursive: true });
    kiln = await startTestKiln({ db: 'postgres', builder: true, analyzer: true, env: { ...settings, KILN_CATALOG_DIR: catalogDir } });
  });
  after(async () => {
    await kiln?.close();
    await rm(catalogDir, { recursive: true, force: true });
  });

  it('learns a template from history, and the next superset build starts FROM it and installs only the rest', async () => {
    // Builds whose installs ran (this engine's cache would serve them: see pastBuilds).
    await pastBuilds(kiln, [{ component: 'jdk@17', seconds: 40 }, { component: 'openssl@3', seconds: 5 }], 3);

    const run = await analyze(kiln);
    assert.deepEqual(run.decisions.build.map((b) => b.key), ['debian-bookworm|jdk@17+openssl@3'], run.summary);
    const t = await waitForTemplate(kiln, () => true);
    assert.equal(t.status, 'ready');
    assert.deepEqual(t.components.map((c) => c.key), ['jdk@17', 'openssl@3']);
    const repository = t.imageRef.slice(kiln.config.REGISTRY_HOST.length + 1, t.imageRef.lastIndexOf(':'));
    assert.equal(await manifestDigest(kiln.config.REGISTRY_HOST, repository, t.id), t.digest, 'the template is in the registry');

    const b = await build(kiln, ['gcc@12', 'jdk', 'openssl'], 3);
    assert.equal(b.plan.base.kind, 'template');
    assert.equal(b.plan.base.templateId, t.id);
    assert.deepEqual(b.steps.map((s) => s.component), ['gcc@12', 'binary', 'push'], 'only the missing component is installed');
    assert.ok((b.plan.base.secondsSaved ?? 0) > 0);

    // The image really has all three components working.
    const catalog = await loadCatalog(catalogDir);
    for (const key of ['jdk@17', 'openssl@3', 'gcc@12']) {
      const [name, version] = key.split('@') as [string, string];
      const smoke = await runSmoke(kiln.infra.docker, b.imageRef, catalog.components.get(name)!.versions.get(version)!.smoke);
      assert.equal(smoke.code, 0, `${key} smoke failed:\n${smoke.output}`);
    }
    const after = (await templates(kiln)).find((x) => x.id === t.id)!;
    assert.equal(after.hits, 1);
    assert.equal(after.secondsSaved, b.plan.base.secondsSaved);
    const stats = (await (await call(kiln, `/v1/stats`)).json()) as { buildsWithTemplate: number; secondsSaved: number };
    assert.equal(stats.buildsWithTemplate, 1);
    assert.equal(stats.secondsSaved, b.plan.base.secondsSaved);
  });

  it('a changed recipe makes the template stale: no build uses it, analysis rebuilds it and deletes the old image', async () => {
    const old = (await templates(kiln)).find((x) => x.status === 'ready')!;
    assert.ok(old, 'the first test left a ready template');
    const file = path.join(catalogDir, 'components/openssl/3.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('packages: [openssl, libssl-dev, ca-certificates]', 'packages: [openssl, libssl-dev, ca-certificates, xz-utils]'));
    await kiln.close({ keepData: true });
    kiln = await startTestKiln({ successorOf: kiln, builder: true, analyzer: true, env: { ...settings, KILN_CATALOG_DIR: catalogDir } });

    const b = await build(kiln, ['jdk', 'openssl'], 4);
    assert.equal(b.plan.base.kind, 'root', 'a template of an older recipe is never used');

    const run = await analyze(kiln);
    assert.deepEqual(run.decisions.stale.map((s) => s.id), [old.id]);
    assert.match(run.decisions.stale[0]!.reason, /recipe changed for openssl@3/);
    assert.deepEqual(run.decisions.build.map((x) => x.key), ['debian-bookworm|jdk@17+openssl@3'], 'still worth it: rebuilt');
    assert.deepEqual(run.decisions.imagesDeleted, [old.imageRef], 'grace period 0: the stale image goes at once');
    const repository = old.imageRef.slice(kiln.config.REGISTRY_HOST.length + 1, old.imageRef.lastIndexOf(':'));
    assert.equal(await manifestDigest(kiln.config.REGISTRY_HOST, repository, old.id), undefined);

    const fresh = await waitForTemplate(kiln, (x) => x.id !== old.id);
    assert.equal(fresh.status, 'ready');
    const newHash = (await loadCatalog(catalogDir)).components.get('openssl')!.versions.get('3')!.recipeHash;
    assert.equal(fresh.components.find((c) => c.key === 'openssl@3')!.recipeHash, newHash);
    assert.equal((await templates(kiln)).find((x) => x.id === old.id)!.status, 'stale');
  });
});

describe('analyzer schedule', () => {
  it('is a BullMQ job scheduler that runs an analysis on its own and records it', async () => {
    const kiln = await startTestKiln({ analyzer: true, env: { KILN_ANALYZER_INTERVAL_SECONDS: '3600' } });
    try {
      const { Queue } = await import('bullmq');
      const { ANALYZER_QUEUE } = await import('../core/queues.ts');
      const { ANALYZE_SCHEDULER_ID } = await import('../analyzer/analyzer-process.ts');
      const queue = new Queue(ANALYZER_QUEUE, { connection: kiln.infra.redis('producer'), prefix: kiln.config.KILN_QUEUE_PREFIX });
      const scheduler = await queue.getJobScheduler(ANALYZE_SCHEDULER_ID);
      await queue.close();
      assert.equal(Number(scheduler?.every), 3600_000);
      const deadline = Date.now() + 20_000;
      let runs: { trigger: string; summary: string | null }[] = [];
      while (Date.now() < deadline && !runs.some((r) => r.summary)) {
        runs = ((await (await call(kiln, `/v1/analyzer/runs`)).json()) as { runs: typeof runs }).runs;
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal(runs[0]?.trigger, 'schedule');
      assert.match(runs[0]?.summary ?? '', /^0 builds in 28 days/);
    } finally {
      await kiln.close();
    }
  });
});

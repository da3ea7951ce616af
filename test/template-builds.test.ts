// Template builds go through the same job lifecycle and image pipeline as builds, on the real parts: an admin cancels
// a running one (canceled within seconds, no container left, nothing pushed), one past its timeout fails naming the
// timeout, and one running when its builder shuts down goes back to the queue and a second builder finishes it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { startBuilder } from '../builder/builder-process.ts';
import { loadCatalog } from '../core/catalog/catalog-loader.ts';
import { call, postBuild, upload, waitFor, waitForBuild, type Target } from './helpers/api-client.ts';
import { removeSlowLayers, slowCatalog } from './helpers/catalogs.ts';
import { runSmoke } from './helpers/component-image.ts';
import { pastBuilds } from './helpers/past-builds.ts';
import { manifestDigest } from './helpers/registry-client.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

interface TemplateView {
  id: string;
  status: string;
  imageRef: string;
  digest: string | null;
  error: string | null;
}

const analyzerSettings = {
  KILN_TEMPLATE_MAX: '1',
  // Two recent builds weigh a little under 2 (recency decay since they ran).
  KILN_TEMPLATE_MIN_SUPPORT: '1.5',
  KILN_TEMPLATE_MIN_SECONDS: '0',
  KILN_TEMPLATE_STORAGE_SECONDS_PER_GIB: '0',
  KILN_ANALYZER_INTERVAL_SECONDS: '0',
};

const admin = (kiln: TestKiln): Target => ({ url: kiln.url, token: kiln.adminToken });

async function template(kiln: TestKiln, id: string): Promise<TemplateView> {
  const res = await call(kiln, `/v1/templates/${id}`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as TemplateView;
}

async function templateLog(kiln: TestKiln, id: string): Promise<string> {
  return (await call(kiln, `/v1/templates/${id}/logs`)).text();
}

const waitForLog = (kiln: TestKiln, id: string, text: string, timeoutMs = 120_000) =>
  waitFor(`"${text}" in the log of template ${id}`, async () => ((await templateLog(kiln, id)).includes(text) ? true : undefined), timeoutMs);

const waitForStatus = (kiln: TestKiln, id: string, timeoutMs: number) =>
  waitFor(`template ${id} to leave "building"`, async () => {
    const t = await template(kiln, id);
    return t.status === 'building' ? undefined : t;
  }, timeoutMs);

/** Containers (running or not) whose command mentions `marker`: what a RUN step left in the engine. */
async function containersMentioning(kiln: TestKiln, marker: string): Promise<string[]> {
  return (await kiln.infra.docker.listContainers({ all: true })).filter((c) => c.Command.includes(marker)).map((c) => c.Id);
}

/**
 * A kiln whose history asks for the `slow` component (two quick builds of it, as past builds), restarted on a catalog where the same
 * version's recipe takes `seconds`; then an analysis starts that template's build. Returns the kiln and template.
 */
async function templateBuilding(
  s: { dir: string; nonce: string; own: (k: TestKiln) => void },
  seconds: number,
  env: Record<string, string> = {},
): Promise<{ kiln: TestKiln; id: string }> {
  const { dir, nonce } = s;
  const quick = await slowCatalog(path.join(dir, 'quick'), { seconds: 1, nonce });
  // PostgreSQL: the restarted kiln must find the history the first one wrote.
  let kiln = await startTestKiln({ db: 'postgres', builder: true, env: { ...analyzerSettings, KILN_CATALOG_DIR: quick } });
  s.own(kiln);
  // Two builds whose install ran (built here, the second would be served by the layer cache, which the analyzer
  // discounts: see pastBuilds).
  const key = `slow@${(await loadCatalog(quick)).components.get('slow')!.versions.keys().next().value!}`;
  await pastBuilds(kiln, [{ component: key, seconds: 5 }], 2);
  await kiln.close({ keepData: true });
  const slow = await slowCatalog(path.join(dir, 'slow'), { seconds, nonce });
  kiln = await startTestKiln({ successorOf: kiln, builder: true, analyzer: true, env: { ...analyzerSettings, KILN_CATALOG_DIR: slow, ...env } });
  s.own(kiln);
  const res = await call(admin(kiln), '/v1/analyzer/run?wait=60', { method: 'POST' });
  const run = await res.text();
  assert.equal(res.status, 200, run);
  const templates = ((await (await call(kiln, '/v1/templates?status=building')).json()) as { templates: TemplateView[] }).templates;
  assert.equal(templates.length, 1, `${run}\n${JSON.stringify(templates)}`);
  return { kiln, id: templates[0]!.id };
}

describe('template builds share the build lifecycle', { timeout: 600_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => console.error(err));
  });

  /** A scratch dir and nonce for one test, removed (with its engine layers and kiln) at the end. */
  async function scratch(): Promise<{ dir: string; nonce: string; own: (k: TestKiln) => void }> {
    const dir = await mkdtemp(path.join(tmpdir(), 'kiln-tplb-'));
    const nonce = randomBytes(4).toString('hex');
    let kiln: TestKiln | undefined;
    cleanups.push(async () => {
      if (kiln) await removeSlowLayers(kiln.infra.docker, nonce);
      await kiln?.close();
      await rm(dir, { recursive: true, force: true });
    });
    return { dir, nonce, own: (k) => (kiln = k) };
  }

  it('an admin cancels a running template build: canceled within seconds, its container gone, nothing pushed', async () => {
    const s = await scratch();
    const { kiln, id } = await templateBuilding(s, 120);
    await waitForLog(kiln, id, 'slow-line-2');
    assert.ok((await containersMentioning(kiln, s.nonce)).length > 0, 'the step runs in a container of the engine');

    // Templates serve every project: a project token may read them, not stop them.
    assert.equal((await call(kiln, `/v1/templates/${id}/cancel`, { method: 'POST' })).status, 403);
    const t0 = Date.now();
    const res = await call(admin(kiln), `/v1/templates/${id}/cancel`, { method: 'POST' });
    assert.equal(res.status, 202, await res.clone().text());
    assert.equal(((await res.json()) as TemplateView).status, 'building', 'a running build answers while its builder stops it');

    const ended = await waitForStatus(kiln, id, 30_000);
    assert.equal(ended.status, 'canceled');
    assert.ok(Date.now() - t0 < 10_000, `ended ${Date.now() - t0} ms after the cancel`);
    assert.equal(ended.digest, null);
    const deadline = Date.now() + 15_000;
    while ((await containersMentioning(kiln, s.nonce)).length > 0 && Date.now() < deadline) await sleep(500);
    assert.deepEqual(await containersMentioning(kiln, s.nonce), [], 'no container of the step is left');
    const repository = ended.imageRef.slice(kiln.config.REGISTRY_HOST.length + 1, ended.imageRef.lastIndexOf(':'));
    assert.equal(await manifestDigest(kiln.config.REGISTRY_HOST, repository, id), undefined, 'nothing was pushed');
    assert.equal(await kiln.infra.docker.getImage(ended.imageRef).inspect().then(() => true, () => false), false, 'no image is left under its name');
    assert.match(await templateLog(kiln, id), /kiln: canceled; the engine's build was stopped and nothing was pushed/);

    const again = await call(admin(kiln), `/v1/templates/${id}/cancel`, { method: 'POST' });
    assert.equal(again.status, 409);
    assert.match(((await again.json()) as { detail: string }).detail, /not being built \(canceled\)/);
  });

  it('a template build past its timeout fails, and the error names the timeout', async () => {
    const s = await scratch();
    const { kiln, id } = await templateBuilding(s, 120, { KILN_TEMPLATE_TIMEOUT_SECONDS: '10' });
    const ended = await waitForStatus(kiln, id, 90_000);
    assert.equal(ended.status, 'failed');
    assert.match(ended.error ?? '', /the template build ran longer than its timeout of 10 s/);
    const log = await templateLog(kiln, id);
    assert.equal(log.match(/kiln: attempt \d+ on builder/g)?.length, 1, `a timeout is not retried:\n${log}`);
    const deadline = Date.now() + 15_000;
    while ((await containersMentioning(kiln, s.nonce)).length > 0 && Date.now() < deadline) await sleep(500);
    assert.deepEqual(await containersMentioning(kiln, s.nonce), []);
  });

  it('a builder shutting down requeues its template build, and a second builder finishes it', async () => {
    const s = await scratch();
    const { kiln, id } = await templateBuilding(s, 8);
    await waitForLog(kiln, id, 'slow-line-1');
    await kiln.builder!.close(500);
    assert.equal((await template(kiln, id)).status, 'building', 'back in the queue, not failed');
    assert.match(await templateLog(kiln, id), /is shutting down; the template build goes back to the queue/);

    const next = await startBuilder(kiln.infra);
    try {
      const ready = await waitForStatus(kiln, id, 180_000);
      assert.equal(ready.status, 'ready', ready.error ?? '');
      const repository = ready.imageRef.slice(kiln.config.REGISTRY_HOST.length + 1, ready.imageRef.lastIndexOf(':'));
      assert.equal(await manifestDigest(kiln.config.REGISTRY_HOST, repository, id), ready.digest, 'the template is in the registry');
      const log = await templateLog(kiln, id);
      const runners = [...log.matchAll(/kiln: attempt (\d+) on builder/g)].map((m) => m[1]);
      assert.deepEqual(runners, ['1', '1'], `a shutdown does not spend an attempt:\n${log}`);
      const smoke = await runSmoke(kiln.infra.docker, ready.imageRef, 'test -f /slow-done');
      assert.equal(smoke.code, 0, smoke.output);
    } finally {
      await next.close();
    }
  });
});

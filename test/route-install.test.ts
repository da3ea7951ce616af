// `"route": "install"` end to end on the real parts: with a combination whose layers are built and verified, a build
// that asks to install (here through the CLI's --install) installs its components all the same and never composes,
// its image runs and its dev.kiln.route label says install; the same request without a route is composed and says so.
// An Idempotency-Key tells the two apart, a webhook's saved definition keeps its route for every push, and the web
// form's checkbox asks for it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, cp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rootRepository } from '../builder/docker-engine.ts';
import { call, postBuild, upload, waitFor, waitForBuild, type BuildView } from './helpers/api-client.ts';
import { launchBrowser, newContext } from './helpers/browser.ts';
import { removeImagesMarked } from './helpers/catalogs.ts';
import { runImage } from './helpers/docker-run.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const repo = path.resolve(import.meta.dirname, '..');

type Build = Omit<BuildView, 'plan'> & {
  startedAt: string | null;
  finishedAt: string | null;
  spec: { route?: string };
  plan: { route?: string; base: { kind: string; verifiedNow?: boolean } };
  steps: { component: string; kind: string | null; cached: boolean }[];
};

/** Two small components, each writing a file whose text holds the nonce (so this run's engine cache can be removed). */
async function routeCatalog(dir: string, nonce: string): Promise<string> {
  const catalog = path.join(dir, 'catalog');
  await mkdir(path.join(catalog, 'roots'), { recursive: true });
  await cp(path.join(repo, 'base-images/roots'), path.join(catalog, 'roots'), { recursive: true });
  for (const [name, rank] of [['route-a', 1], ['route-b', 2]] as const) {
    await mkdir(path.join(catalog, 'components', name), { recursive: true });
    await writeFile(path.join(catalog, 'components', name, 'component.yaml'), `name: ${name}\ndescription: a small test component\nrank: ${rank}\ndefault: "1"\n`);
    await writeFile(
      path.join(catalog, 'components', name, '1.yaml'),
      `name: ${name}\nversion: "1"\nroots: [debian-bookworm]\ninstall:\n  script: "echo ${name}-${nonce} > /opt/${name}.txt\\n"\nsmoke: "test -f /opt/${name}.txt"\ncostEstimateSeconds: 60\n`,
    );
  }
  return catalog;
}

/** `kiln ARGS` as a person runs it (the package's bin), with KILN_URL and KILN_TOKEN. */
function kilnCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repo, 'bin/kiln.js'), ...args], { cwd: repo, env: { PATH: process.env.PATH!, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('route install', { timeout: 900_000 }, () => {
  let kiln: TestKiln;
  let dir: string;
  let script: string;
  const nonce = `${Date.now()}`;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-route-'));
    kiln = await startTestKiln({ builder: true, env: { KILN_COMPOSITION: 'true', KILN_CATALOG_DIR: await routeCatalog(dir, nonce) } });
    script = path.join(dir, 'app');
    await writeFile(script, '#!/bin/sh\ncat /opt/route-a.txt /opt/route-b.txt\n', { mode: 0o755 });
    // Until the builder has published the root, a build installs for that reason; the first build here is about the
    // other one (no layers yet), which queues the layers and their verification.
    await waitFor('the root published', () => kiln.infra.registry.manifestDigest(rootRepository(kiln.config.REGISTRY_PREFIX, 'debian-bookworm'), 'current'), 300_000);
  });
  after(async () => {
    await kiln?.close();
    if (kiln) await removeImagesMarked(kiln.infra.docker, [nonce]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const request = async (tag: string) => ({
    components: ['route-b', 'route-a'],
    uploadId: (await upload(kiln, Buffer.from('#!/bin/sh\ncat /opt/route-a.txt /opt/route-b.txt\n'))).body.id as string,
    binaryPath: '/usr/local/bin/app',
    entrypoint: ['/usr/local/bin/app'],
    image: `route/app:${tag}`,
  });
  const ended = async (id: string) => (await waitForBuild(kiln, id, 600_000)) as unknown as Build;
  const log = async (id: string) => (await call(kiln, `/v1/builds/${id}/logs`)).text();
  /** What the image prints and its route label, as a user reads them (docker run; docker inspect). */
  const image = async (ref: string) => {
    const run = await runImage(kiln.infra.docker, ref);
    const labels = (await kiln.infra.docker.getImage(ref).inspect()).Config.Labels ?? {};
    return { code: run.code, output: run.output.trim(), route: labels['dev.kiln.route'] };
  };
  const preview = async (route?: string) => {
    const res = await call(kiln, '/v1/builds/preview', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ components: ['route-a', 'route-b'], ...(route ? { route } : {}) }) });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as { route: string; reason: string; verified: boolean | null };
  };
  const printed = `route-a-${nonce}\nroute-b-${nonce}`;
  const verified = () =>
    waitFor(
      'the verified combination',
      async () => {
        const list = ((await (await call(kiln, '/v1/compositions')).json()) as { compositions: { components: string[]; status: string; error: string | null }[] }).compositions;
        const c = list.find((x) => x.components.join('+') === 'route-a@1+route-b@1');
        assert.ok(!c || c.status === 'verifying' || c.status === 'verified', JSON.stringify(c));
        return c?.status === 'verified' ? c : undefined;
      },
      600_000,
    );

  it('a route other than auto or install is a 400 naming the field', async () => {
    const res = await postBuild(kiln, { ...(await request('fast')), route: 'fast' });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.deepEqual((res.body.problems as { field: string }[]).map((p) => p.field), ['route'], JSON.stringify(res.body));
  });

  it('with the combination verified, "route": "install" installs and says so in its label; without a route it is composed', async (t) => {
    // The first build installs (no layers yet) and queues the layers and the combination's verification.
    const posted = await postBuild(kiln, await request('first'));
    assert.equal(posted.status, 202, JSON.stringify(posted.body));
    const first = await ended(posted.body.id);
    assert.equal(first.status, 'succeeded', first.error ?? '');
    assert.deepEqual(await image(first.imageRef), { code: 0, output: printed, route: 'root' });
    await verified();
    assert.deepEqual([(await preview()).route, (await preview()).verified], ['composed', true]);
    const asked = await preview('install');
    assert.equal(asked.route, 'install', JSON.stringify(asked));

    // Asked to install, through the CLI.
    const cli = await kilnCli(
      ['build', '--binary', script, '--component', 'route-b', '--component', 'route-a', '--binary-path', '/usr/local/bin/app', '--image', 'route/app:install', '--install'],
      { KILN_URL: kiln.url, KILN_TOKEN: kiln.token },
    );
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, /installed/, 'the CLI says which way it will go');
    const installed = await ended(cli.stdout.trim());
    assert.equal(installed.status, 'succeeded', installed.error ?? '');
    assert.equal(installed.spec.route, 'install');
    assert.equal(installed.plan.route, 'install');
    assert.equal(installed.plan.base.kind, 'root', JSON.stringify(installed.plan.base));
    // Each component a RUN step of the engine's build (the layer cache may answer it: the layers were built so), no
    // prebuilt layer, no verification, no assembly.
    const kinds = new Map(installed.steps.map((s) => [s.component, s.kind]));
    for (const c of ['route-a@1', 'route-b@1']) assert.ok(['install', 'cache'].includes(kinds.get(c) ?? ''), JSON.stringify(installed.steps));
    assert.ok(!installed.steps.some((s) => ['layer', 'verify', 'assemble'].includes(s.kind ?? '')), JSON.stringify(installed.steps));
    assert.match(await log(installed.id), /kiln: installing: the build asked for it \("route": "install"\)/);
    assert.deepEqual(await image(installed.imageRef), { code: 0, output: printed, route: 'install' });

    // The same request without a route: composed. With an Idempotency-Key, the key tells the routes apart.
    const key = { 'idempotency-key': `route-${nonce}` };
    const auto = await postBuild(kiln, await request('auto'), key);
    assert.equal(auto.status, 202, JSON.stringify(auto.body));
    const composed = await ended(auto.body.id);
    assert.equal(composed.status, 'succeeded', composed.error ?? '');
    assert.equal(composed.plan.base.kind, 'composed', JSON.stringify(composed.plan.base));
    assert.equal('route' in composed.plan, false);
    assert.deepEqual(await image(composed.imageRef), { code: 0, output: printed, route: 'composed' });
    const spec = (await (await call(kiln, `/v1/builds/${composed.id}`)).json()).spec as Record<string, unknown>;
    const other = await postBuild(kiln, { ...spec, route: 'install' }, key);
    assert.equal(other.status, 409, JSON.stringify(other.body));
    // Figures for the record (not asserted: timing is no test's business), each build from start to pushed image.
    const took = (b: Build) => ((Date.parse(b.finishedAt!) - Date.parse(b.startedAt!)) / 1000).toFixed(1);
    t.diagnostic(`first (root, no layers): ${took(first)} s; install: ${took(installed)} s, steps ${installed.steps.map((s) => `${s.component}:${s.kind}`).join(' ')}; composed: ${took(composed)} s`);
    const same = await postBuild(kiln, { ...spec, route: 'auto' }, key);
    assert.deepEqual([same.status, same.body.id, same.headers.get('idempotent-replayed')], [202, composed.id, 'true'], JSON.stringify(same.body));
  });

  it("a webhook's saved definition keeps its route: each push installs", async () => {
    const { image: _, ...definition } = await request('unused');
    const created = await call(kiln, '/v1/webhooks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'install', definition: { ...definition, repository: 'route/hook', route: 'install' } }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const hook = (await created.json()) as { url: string; secret: string; definition: { route?: string } };
    assert.equal(hook.definition.route, 'install');
    const commit = 'c0ffee'.repeat(6) + 'beef';
    const body = JSON.stringify({ ref: 'refs/heads/main', after: commit, head_commit: { id: commit }, repository: { html_url: 'https://git.example.com/route/hook' } });
    const res = await fetch(hook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${createHmac('sha256', hook.secret).update(body).digest('hex')}` },
      body,
    });
    assert.equal(res.status, 202, await res.clone().text());
    const pushed = await ended(((await res.json()) as { build: { id: string } }).build.id);
    assert.equal(pushed.status, 'succeeded', pushed.error ?? '');
    assert.deepEqual([pushed.spec.route, pushed.plan.route, pushed.plan.base.kind], ['install', 'install', 'root']);
    assert.deepEqual(await image(pushed.imageRef), { code: 0, output: printed, route: 'install' });
  });

  it('the web form\'s checkbox asks for it: the form says installed, and the build installs', async () => {
    await verified();
    const browser = await launchBrowser();
    try {
      const page = await (await newContext(browser)).newPage();
      page.on('pageerror', (err) => console.error('page error:', err));
      await page.goto(kiln.url);
      await page.getByLabel('Project token').fill(kiln.token);
      await page.getByRole('button', { name: 'Save token' }).click();
      await page.getByRole('heading', { name: 'New build' }).waitFor();
      await page.getByLabel('route-a', { exact: true }).check();
      await page.getByLabel('route-b', { exact: true }).check();
      await page.locator('#route[data-route="composed"]').waitFor();
      await page.getByLabel('Install, even where kiln could compose').check();
      await page.locator('#route[data-route="install"]').filter({ hasText: /Installed step by step/ }).waitFor();
      await page.getByLabel('Binary', { exact: true }).setInputFiles({ name: 'app', mimeType: 'application/octet-stream', buffer: Buffer.from('#!/bin/sh\ncat /opt/route-a.txt /opt/route-b.txt\n') });
      await page.locator('#upload-status').filter({ hasText: /^Uploaded app/ }).waitFor();
      await page.getByLabel('Where it goes in the image').fill('/usr/local/bin/app');
      await page.getByLabel('Command that starts it').fill('/usr/local/bin/app');
      await page.getByLabel('Image name').fill('route/web:1');
      await page.getByRole('button', { name: 'Start build' }).click();
      await page.waitForURL(/#\/builds\/[0-9a-f-]{36}$/);
      const b = await ended(decodeURIComponent(page.url().split('/').at(-1)!));
      assert.equal(b.status, 'succeeded', b.error ?? '');
      assert.deepEqual([b.spec.route, b.plan.route, b.plan.base.kind], ['install', 'install', 'root']);
      assert.deepEqual(await image(b.imageRef), { code: 0, output: printed, route: 'install' });
    } finally {
      await browser.close();
    }
  });
});

// The web form, as a person uses it in a real browser (Debian's Chromium, headless) against a real kiln: a token
// entered once; jdk@17 picked, a jar uploaded, the build followed to `succeeded` and the pushed image run; a clash
// flagged while picking, and kiln's 400 problems shown next to the fields; a running build's live log and cancel; the
// templates page's charts drawn from real stats; the images page's filters and delete. Screenshots go to test/artifacts/.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { WEB_DIST_DIR, webRoutes } from '../api/web-routes.ts';
import { duration } from '../api/web/src/dom.ts';
import { call, getBuild, postBuild, upload, waitForBuild } from './helpers/api-client.ts';
import { launchBrowser, newContext, screenshot } from './helpers/browser.ts';
import { removeSlowLayers, slowCatalog } from './helpers/catalogs.ts';
import { runImage } from './helpers/docker-run.ts';
import { pastBuilds } from './helpers/past-builds.ts';
import { helloJar } from './helpers/programs.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const templateSettings = {
  KILN_TEMPLATE_MAX: '1',
  KILN_TEMPLATE_MIN_SUPPORT: '2',
  // Installs on this machine's mirror take seconds, not the minutes they take on a real network.
  KILN_TEMPLATE_MIN_SECONDS: '0',
  KILN_TEMPLATE_STORAGE_SECONDS_PER_GIB: '0',
  KILN_ANALYZER_INTERVAL_SECONDS: '0',
};

/** Opens the form at `hash` in a fresh profile and enters the project token, as a first-time user does. */
async function openWithToken(browser: Browser, kiln: TestKiln, hash = '', size: 'laptop' | 'phone' = 'laptop'): Promise<Page> {
  const context = await newContext(browser, size);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${kiln.url}/${hash}`);
  await page.getByLabel('Project token').fill(kiln.token);
  await page.getByRole('button', { name: 'Save token' }).click();
  await page.locator('#project-name').filter({ hasText: kiln.project }).waitFor();
  return page;
}

const text = async (page: Page, selector: string) => ((await page.locator(selector).textContent()) ?? '').trim();

describe('web form', () => {
  let kiln: TestKiln;
  let browser: Browser;
  before(async () => {
    if (!existsSync(path.join(WEB_DIST_DIR, 'index.html'))) {
      const { build } = await import('vite');
      await build({ configFile: path.resolve(import.meta.dirname, '../api/web/vite.config.ts') });
    }
    kiln = await startTestKiln({ builder: true, analyzer: true, env: templateSettings });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await kiln?.close();
  });

  it('asks for the token once, builds jdk@17 + an uploaded jar, follows the build to succeeded, and the image runs', async () => {
    const page = await openWithToken(browser, kiln);
    // Kept in the browser: a reload goes straight to the form.
    await page.reload();
    await page.getByRole('heading', { name: 'New build' }).waitFor();

    await page.getByLabel('jdk', { exact: true }).check();
    await page.getByLabel('Version of jdk').selectOption('17');
    assert.match(await text(page, '#component-jdk-hint'), /OpenJDK 17|about 5 min to install/);
    assert.match(await text(page, '#installs'), /jdk 17: about .+ of installing/);
    // kiln's estimate of the whole build, before anything is submitted.
    await page.locator('#estimate').filter({ hasText: /^Estimated time: about .+ \(.+\) from submitting to a pushed image/ }).waitFor();

    const jar = await helloJar('hello from the web form');
    await page.getByLabel('Binary', { exact: true }).setInputFiles({ name: 'hello.jar', mimeType: 'application/java-archive', buffer: jar });
    await page.locator('#upload-status').filter({ hasText: /^Uploaded hello\.jar/ }).waitFor();
    assert.equal(await page.locator('#upload-progress').evaluate((p: HTMLProgressElement) => p.value), 1);
    // Defaults guessed from the file name, which the user may change.
    assert.equal(await page.getByLabel('Where it goes in the image').inputValue(), '/opt/app/hello.jar');
    assert.equal(await page.getByLabel('Command that starts it').inputValue(), 'java -jar /opt/app/hello.jar');
    await page.getByLabel('Command that starts it').fill('java -jar /opt/app/hello.jar "from the form"');
    await page.getByLabel('Image name').fill('web/hello:1');
    await screenshot(page, 'web-form');

    await page.getByRole('button', { name: 'Start build' }).click();
    await page.waitForURL(/#\/builds\/[0-9a-f-]{36}$/);
    const id = decodeURIComponent(page.url().split('/').at(-1)!);
    await page.locator('#build-status .badge').filter({ hasText: /^succeeded$/ }).waitFor({ timeout: 300_000 });
    await page.locator('#log-state').filter({ hasText: 'complete' }).waitFor();

    // What the page says is what kiln did.
    const build = await getBuild(kiln, id);
    assert.equal(build.status, 'succeeded', build.error ?? '');
    const shownRef = await text(page, '#image-ref');
    assert.equal(shownRef, build.imageRef);
    assert.equal(await text(page, '#image-digest'), build.digest);
    assert.match(await text(page, '#plan-steps'), /jdk@17/);
    assert.match(await text(page, '#plan-base'), /root image/);
    const logShown = await text(page, '#log');
    const logServed = await (await call(kiln, `/v1/builds/${id}/logs`)).text();
    assert.equal(logShown, logServed.trim(), 'the followed log is the whole log');
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: kiln.url });
    // The button says "copied" for 2 s only, and the page may draw the build again (a new button): watch the whole
    // document for that label, so neither a slow poll on a loaded machine nor a redraw can hide it.
    // (No named functions inside: the test's TypeScript loader would wrap them in a helper the page does not have.)
    await page.evaluate(() => {
      (window as unknown as { copiedSeen: boolean }).copiedSeen = false;
      new MutationObserver(() => {
        if (document.querySelector('button[aria-label="image reference copied"]')) (window as unknown as { copiedSeen: boolean }).copiedSeen = true;
      }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label'] });
    });
    await page.getByRole('button', { name: 'Copy image reference' }).click();
    await page.waitForFunction(() => (window as unknown as { copiedSeen: boolean }).copiedSeen, undefined, { timeout: 30_000 });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), shownRef);
    await screenshot(page, 'web-build-succeeded');

    // The builds list shows it, and filters by status.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Builds' }).click();
    await page.locator('#builds tbody tr').filter({ hasText: id.slice(0, 8) }).waitFor();
    await page.getByLabel('Status').selectOption('failed');
    await page.getByText('No failed builds.').waitFor();

    const run = await runImage(kiln.infra.docker, shownRef);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /hello from the web form from the form env=null/);
    await kiln.infra.docker.getImage(shownRef).remove({ force: true });
    await page.context().close();
  });

  it('estimates the build before submitting, and the estimate follows the picks (CUDA ticked)', async () => {
    const page = await openWithToken(browser, kiln);
    const seconds = async () => Number(await page.locator('#estimate').getAttribute('data-seconds'));
    await page.getByLabel('gcc', { exact: true }).check();
    await page.locator('#estimate[data-seconds]:not([data-seconds=""])').filter({ hasText: /Estimated time: about/ }).waitFor();
    const gccOnly = await seconds();
    const gccText = await text(page, '#estimate');
    await page.getByLabel('cuda', { exact: true }).check();
    await page.waitForFunction((before) => document.querySelector('#estimate')?.textContent !== before && Number(document.querySelector('#estimate')?.getAttribute('data-seconds')) > 0, gccText);
    const withCuda = await seconds();
    assert.ok(withCuda > gccOnly, `CUDA makes the build longer: ${gccOnly} s → ${withCuda} s`);
    assert.match(await text(page, '#estimate'), /^Estimated time: about .+ \(.+\)/);
    // The same answer kiln gives any client.
    const preview = (await (await call(kiln, '/v1/builds/preview', { method: 'POST', body: JSON.stringify({ components: ['gcc@12', 'cuda@11.8'] }), headers: { 'content-type': 'application/json' } })).json()) as { estimate: { seconds: number } };
    assert.ok(Math.abs(preview.estimate.seconds - withCuda) <= Math.max(2, withCuda * 0.05), `${preview.estimate.seconds} vs ${withCuda}`);
    await screenshot(page, 'web-form-estimate');
    await page.context().close();
  });

  it('flags an incompatible pick with its reason before submitting, and shows kiln’s 400 problems next to the fields', async () => {
    const page = await openWithToken(browser, kiln);
    const before = ((await (await call(kiln, '/v1/builds')).json()) as { items: unknown[] }).items.length;

    await page.getByLabel('cuda', { exact: true }).check();
    const clientProblem = page.locator('#component-cuda-problem');
    await clientProblem.waitFor();
    assert.match(await clientProblem.innerText(), /cuda 11\.8 needs gcc >=11 <13\. Also pick gcc 12 or 11\. Why: nvcc needs a gcc on PATH/);
    // Fixing it clears it, as the user picks.
    await page.getByLabel('gcc', { exact: true }).check();
    await clientProblem.waitFor({ state: 'hidden' });
    await page.getByLabel('gcc', { exact: true }).uncheck();
    await clientProblem.waitFor();

    // Submitted anyway, with no file and a bad image name: kiln's answer lands next to each field.
    await page.getByLabel('Image name').fill('Not An Image!');
    await page.getByRole('button', { name: 'Start build' }).click();
    const summary = page.locator('#form-problems');
    await summary.filter({ hasText: /kiln refused the build: \d+ problems/ }).waitFor();
    assert.match(await page.locator('#component-cuda-server-problem').innerText(), /kiln: cuda@11\.8 requires gcc >=11 <13, which is not in the request/);
    assert.match(await page.locator('#binary-server-problem').innerText(), /kiln: no upload/);
    assert.match(await page.locator('#image-server-problem').innerText(), /^kiln: .+/);
    assert.equal(await page.getByLabel('Image name').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#binaryPath-server-problem').isVisible(), true, 'an empty path is refused too');
    await screenshot(page, 'web-form-problems');

    // The summary's links take the keyboard to the field.
    await summary.getByRole('link', { name: 'Image name' }).click();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'image');
    const after = ((await (await call(kiln, '/v1/builds')).json()) as { items: unknown[] }).items.length;
    assert.equal(after, before, 'nothing was built');
    await page.context().close();
  });

  it('is usable on a phone’s width and with the keyboard', async () => {
    const page = await openWithToken(browser, kiln, '', 'phone');
    await page.getByRole('heading', { name: 'New build' }).waitFor();
    await page.getByLabel('openssl', { exact: true }).focus();
    await page.keyboard.press('Space');
    assert.equal(await page.getByLabel('openssl', { exact: true }).isChecked(), true);
    assert.match(await text(page, '#installs'), /^openssl 3:/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px on a phone`);
    await screenshot(page, 'web-form-phone');
    await page.context().close();
  });

  it('draws the templates page from real stats once a template saved time', async () => {
    // History of jdk@17 builds (the form's build above is one of them), an analysis, a template, and a build from it.
    for (let i = 0; i < 2; i++) {
      const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho templated ${i}\n`));
      const res = await postBuild(kiln, { components: ['jdk@17'], uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image: `web/tpl${i}:1` });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal((await waitForBuild(kiln, res.body.id)).status, 'succeeded');
    }
    // And three whose install ran: this engine's cache serves jdk@17 to the builds above, and the analyzer discounts
    // that (three: two an hour ago weigh a little under the minimum support of 2).
    await pastBuilds(kiln, [{ component: 'jdk@17', seconds: 40 }], 3);
    const analysis = await call({ url: kiln.url, token: kiln.adminToken }, '/v1/analyzer/run?wait=60', { method: 'POST' });
    const decided = await analysis.clone().text();
    assert.equal(analysis.status, 200, decided);
    const deadline = Date.now() + 240_000;
    let template: { id: string; status: string } | undefined;
    while (template?.status !== 'ready') {
      assert.ok(Date.now() < deadline, `the template was not ready in time: ${JSON.stringify(template)}; the analysis: ${decided}`);
      await new Promise((r) => setTimeout(r, 500));
      template = ((await (await call(kiln, '/v1/templates')).json()) as { templates: { id: string; status: string }[] }).templates[0];
      assert.notEqual(template?.status, 'failed');
    }
    const up = await upload(kiln, Buffer.from('#!/bin/sh\necho from a template\n'));
    const res = await postBuild(kiln, { components: ['jdk@17'], uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image: 'web/tpl:2' });
    const fromTemplate = (await waitForBuild(kiln, res.body.id)) as Awaited<ReturnType<typeof waitForBuild>> & { finishedAt: string; plan: { base: { kind: string; secondsSaved?: number } } };
    assert.equal(fromTemplate.plan.base.kind, 'template');
    const saved = fromTemplate.plan.base.secondsSaved ?? 0;
    assert.ok(saved > 0);

    const page = await openWithToken(browser, kiln, '#/templates');
    const row = page.locator(`#template-${template.id}`);
    await row.waitFor();
    const cells = await row.locator('td').allInnerTexts();
    // The saving is shown in two parts: priced by install times measured here, and by the catalog's estimate.
    const view = ((await (await call(kiln, '/v1/templates')).json()) as { templates: { id: string; secondsSavedMeasured: number; secondsSavedEstimated: number }[] }).templates.find((x) => x.id === template!.id)!;
    assert.equal(view.secondsSavedMeasured + view.secondsSavedEstimated, saved, 'measured and estimated parts add up to what the build recorded');
    assert.deepEqual(cells.slice(0, 5), [
      'debian-bookworm: jdk@17',
      'ready',
      '1',
      duration(view.secondsSavedMeasured),
      view.secondsSavedEstimated > 0 ? `≈ ${duration(view.secondsSavedEstimated)}` : '—',
    ]);
    assert.equal(await text(page, '#total-saved'), duration(view.secondsSavedMeasured));

    // The charts are drawn from GET /v1/stats/daily: today's bar, and both duration series.
    const daily = ((await (await call(kiln, '/v1/stats/daily?days=30')).json()) as { days: { day: string; secondsSaved: number; medianSecondsWithTemplate: number | null; medianSecondsWithout: number | null }[] }).days;
    assert.equal(daily.length, 30);
    const today = daily.find((d) => d.day === fromTemplate.finishedAt.slice(0, 10))!;
    assert.ok(today, 'the day of the build is in the series');
    assert.deepEqual(daily.filter((d) => d.secondsSaved > 0), [today], 'the only day templates saved time');
    assert.equal(today.secondsSaved, saved);
    assert.ok(today.medianSecondsWithTemplate !== null && today.medianSecondsWithout !== null);
    await page.locator('#plot-saved canvas').waitFor();
    await page.locator('#plot-duration canvas').waitFor();
    // Pixels of each series' colour on the canvases: a bar of saved time, a line with templates, a line without.
    const coloured = (selector: string, rgb: [number, number, number]) =>
      page.locator(selector).evaluate((canvas: HTMLCanvasElement, [r, g, b]) => {
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i + 3]! > 100 && Math.abs(data[i]! - r) < 30 && Math.abs(data[i + 1]! - g) < 30 && Math.abs(data[i + 2]! - b) < 30) n++;
        return n;
      }, rgb);
    assert.ok((await coloured('#plot-saved canvas', [27, 115, 64])) > 50, 'the saved-time bar is drawn');
    assert.ok((await coloured('#plot-duration canvas', [27, 115, 64])) > 10, 'the with-template series is drawn');
    assert.ok((await coloured('#plot-duration canvas', [163, 70, 31])) > 10, 'the without-template series is drawn');
    await page.getByText('The numbers').first().click();
    assert.match(await text(page, '#saved-data tbody'), new RegExp(`${today.day}.*${duration(saved).replace('.', '\\.')}`, 's'));
    await screenshot(page, 'web-templates');
    await page.context().close();
  });

  it('lists the project’s images, filters them by component and status, and deletes one from the registry', async () => {
    const pushed: Record<string, { imageRef: string; digest: string | null }> = {};
    for (const [image, components] of [['shelf/plain:1', []], ['shelf/ssl:1', ['openssl']]] as const) {
      const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho ${image}\n`), 'app');
      const res = await postBuild(kiln, { components, uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image });
      const b = await waitForBuild(kiln, res.body.id);
      assert.equal(b.status, 'succeeded', b.error ?? '');
      pushed[image] = b;
    }
    const page = await openWithToken(browser, kiln, '#/images');
    await page.getByRole('heading', { name: 'Images' }).waitFor();
    await page.locator('#images tbody tr', { hasText: 'shelf/plain:1' }).waitFor();

    await page.getByLabel('Component').fill('openssl@3');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/#\/images\?component=openssl%403$/);
    const rows = page.locator('#images tbody tr');
    // The page redraws after each filter: wait for the list it draws, then read it.
    const listed = async (until: (names: string[]) => boolean) => {
      for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 100))) {
        const names = await rows.locator('th').allTextContents();
        if (until(names) || Date.now() > deadline) return names;
      }
    };
    assert.deepEqual(await listed((n) => n.includes('shelf/ssl:1')), ['shelf/ssl:1'], 'only the image holding openssl@3');
    assert.match(await rows.first().textContent() ?? '', /openssl@3/);

    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Delete shelf/ssl:1' }).click();
    await page.locator('#images-message').filter({ hasText: 'Deleted shelf/ssl:1' }).waitFor();
    await rows.first().locator('.status-deleted').waitFor();
    await screenshot(page, 'images-page');
    const repository = `${kiln.config.REGISTRY_PREFIX}/${kiln.project}/shelf/ssl`;
    assert.equal(await kiln.infra.registry.manifestDigest(repository, '1'), undefined, 'the manifest is gone from the registry');

    await page.getByLabel('Status').selectOption('current');
    await page.getByLabel('Component').fill('');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/#\/images\?status=current$/);
    const current = await listed((n) => n.includes('shelf/plain:1'));
    assert.ok(current.includes('shelf/plain:1') && !current.includes('shelf/ssl:1'), current.join(', '));

    // A filter kiln refuses is explained, not a blank page.
    await page.goto(`${kiln.url}/#/images?sha256=not-a-digest`);
    await page.locator('#images-message .problem-summary').filter({ hasText: 'Binary sha256: 64 lowercase hex digits' }).waitFor();
    assert.equal(await page.locator('#field-sha256.invalid').count(), 1, 'the field at fault is marked');
    await page.context().close();
  });
});

describe('web form: a running build', () => {
  const nonce = `${Date.now()}`;
  let dir: string;
  let kiln: TestKiln;
  let browser: Browser;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-web-'));
    const catalog = await slowCatalog(dir, { seconds: 60, nonce });
    kiln = await startTestKiln({ builder: true, env: { KILN_CATALOG_DIR: catalog } });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    if (kiln) await removeSlowLayers(kiln.infra.docker, nonce);
    await kiln?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('follows the log live while the build runs, and cancels it', async () => {
    const page = await openWithToken(browser, kiln);
    await page.getByLabel('slow', { exact: true }).check();
    await page.getByLabel('Binary', { exact: true }).setInputFiles({ name: 'run.sh', mimeType: 'text/x-sh', buffer: Buffer.from('#!/bin/sh\necho never\n') });
    await page.locator('#upload-status').filter({ hasText: /^Uploaded run\.sh/ }).waitFor();
    await page.getByLabel('Image name').fill('web/slow:1');
    await page.getByRole('button', { name: 'Start build' }).click();
    await page.waitForURL(/#\/builds\//);
    const id = decodeURIComponent(page.url().split('/').at(-1)!);

    // Lines arrive while the step runs (one a second), long before it could end.
    await page.locator('#log').filter({ hasText: 'slow-line-3' }).waitFor({ timeout: 120_000 });
    assert.equal(await text(page, '#build-status .badge'), 'running');
    // The progress bar: on the slow step, and moving with time while it runs.
    await page.locator('#progress-step').filter({ hasText: /^Step 1 of 3: installing slow@1-\d+$/ }).waitFor();
    assert.match(await text(page, '#progress-text'), /so far · about .+ left\./);
    const bar = page.locator('#build-progress');
    const first = await bar.evaluate((p: HTMLProgressElement) => p.value);
    assert.ok(first > 0 && first < 1, `${first}`);
    await page.waitForFunction((v) => (document.querySelector('#build-progress') as HTMLProgressElement).value > v, first, { timeout: 30_000 });
    await screenshot(page, 'web-build-running');

    await page.getByRole('button', { name: 'Cancel build' }).click();
    await page.locator('#build-status .badge').filter({ hasText: /^canceled$/ }).waitFor({ timeout: 60_000 });
    assert.equal(await page.getByRole('button', { name: 'Cancel build' }).isVisible(), false, 'an ended build cannot be canceled');
    assert.equal((await getBuild(kiln, id)).status, 'canceled');
    assert.doesNotMatch(await text(page, '#log'), /slow-line-60/);
    await page.context().close();
  });
});

describe('web form: a queued build', () => {
  let kiln: TestKiln;
  let browser: Browser;
  before(async () => {
    // No builder: the build waits in the queue for as long as the test needs.
    kiln = await startTestKiln();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await kiln?.close();
  });

  it('shows its place in the queue, and cancel ends it at once', async () => {
    const up = await upload(kiln, Buffer.from('#!/bin/sh\necho queued\n'));
    const res = await postBuild(kiln, { uploadId: up.body.id, binaryPath: '/usr/local/bin/q', entrypoint: ['/usr/local/bin/q'], image: 'web/queued:1' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const page = await openWithToken(browser, kiln, `#/builds/${res.body.id}`);
    await page.locator('#build-state').filter({ hasText: /^queued · 1st in the queue$/ }).waitFor();
    await page.getByRole('button', { name: 'Cancel build' }).click();
    await page.locator('#cancel-message').filter({ hasText: 'Canceled before it started.' }).waitFor();
    await page.locator('#build-status .badge').filter({ hasText: /^canceled$/ }).waitFor();
    assert.equal((await getBuild(kiln, res.body.id)).status, 'canceled');
    await page.context().close();
  });
});

describe('web form: not built', () => {
  it('`/` says how to build the form instead of failing', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'kiln-web-dist-'));
    const app = Fastify();
    try {
      await app.register(webRoutes, { distDir: empty });
      const res = await app.inject({ url: '/' });
      assert.equal(res.statusCode, 503);
      assert.match(res.headers['content-type'] as string, /^text\/html/);
      assert.match(res.body, /npm run web:build/);
    } finally {
      await app.close();
      await rm(empty, { recursive: true, force: true });
    }
  });
});

// Composition end to end on the real parts: a build whose layers do not exist installs and queues them; once they are
// built and the combination verified, the next build is assembled in the registry (no engine build, no install step)
// and the pushed image runs.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { rootRepository } from '../builder/docker-engine.ts';
import { call, postBuild, upload, waitFor, waitForBuild, type BuildView } from './helpers/api-client.ts';
import { runImage } from './helpers/docker-run.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

type Plan = { base: { kind: string; layers?: { key: string; digest: string }[]; verifiedNow?: boolean; secondsSaved?: number } };
type Step = { component: string; kind: string | null; cached: boolean };

describe('composition', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  before(async () => {
    kiln = await startTestKiln({ builder: true, env: { KILN_COMPOSITION: 'true' } });
    // The builder publishes the root as it starts; until it has, a build installs for that reason (on a loaded
    // machine that can take a while), and the first test is about the other reason: no layers yet.
    await waitFor('the root published', () => kiln.infra.registry.manifestDigest(rootRepository(kiln.config.REGISTRY_PREFIX, 'debian-bookworm'), 'current'), 120_000);
  });
  after(async () => kiln?.close());

  const hello = async (n: number) => {
    const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho "composed ${n}, $(openssl version | cut -d' ' -f1-2)"\n`));
    const res = await postBuild(kiln, { components: ['openssl'], uploadId: up.body.id, binaryPath: '/usr/local/bin/hello', entrypoint: ['/usr/local/bin/hello'], image: `comp/hello:${n}` });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return (await waitForBuild(kiln, res.body.id)) as unknown as Omit<BuildView, 'steps' | 'plan'> & { plan: Plan; steps: Step[] };
  };

  const preview = async (components: string[]) => {
    const res = await call(kiln, '/v1/builds/preview', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ components }) });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as { route: string; reason: string; verified: boolean | null; secondsSaved: number };
  };

  it('installs while the layers do not exist, then composes once they are built and verified', async () => {
    const before = await preview(['openssl']);
    assert.equal(before.route, 'install', JSON.stringify(before));
    const first = await hello(1);
    assert.equal(first.status, 'succeeded', first.error ?? '');
    assert.notEqual(first.plan.base.kind, 'composed');
    const log = await (await call(kiln, `/v1/builds/${first.id}/logs`)).text();
    assert.match(log, /kiln: installing: no layer of openssl@3 yet/);

    const layer = await waitFor(
      'the openssl@3 layer',
      async () => {
        const layers = ((await (await call(kiln, '/v1/layers')).json()) as { layers: { component: string; status: string; error: string | null }[] }).layers;
        const l = layers.find((x) => x.component === 'openssl@3');
        assert.notEqual(l?.status, 'failed', l?.error ?? '');
        return l?.status === 'ready' ? l : undefined;
      },
      300_000,
    );
    assert.ok(layer);
    await waitFor(
      'the verified combination',
      async () => {
        const list = ((await (await call(kiln, '/v1/compositions')).json()) as { compositions: { components: string[]; status: string; error: string | null }[] }).compositions;
        const c = list.find((x) => x.components.join('+') === 'openssl@3');
        assert.ok(!c || c.status === 'verifying' || c.status === 'verified', JSON.stringify(c));
        return c?.status === 'verified' ? c : undefined;
      },
      300_000,
    );

    const ahead = await preview(['openssl']);
    assert.deepEqual([ahead.route, ahead.verified], ['composed', true], JSON.stringify(ahead));
    assert.ok(ahead.secondsSaved > 0);
    const second = await hello(2);
    assert.equal(second.status, 'succeeded', second.error ?? '');
    assert.equal(second.plan.base.kind, 'composed', JSON.stringify(second.plan.base));
    assert.deepEqual(second.steps.map((s) => [s.component, s.kind]), [['openssl@3', 'layer'], ['binary', 'assemble']]);
    const run = await runImage(kiln.infra.docker, second.imageRef);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output.trim(), /^composed 2, OpenSSL 3\./);
  });
});

/** The shipped catalog plus two components that write the same file with different content, and one marked not composable. */
async function clashCatalog(dir: string): Promise<string> {
  const catalog = path.join(dir, 'catalog');
  await cp(path.resolve(import.meta.dirname, '../base-images'), catalog, { recursive: true });
  const component = async (name: string, rank: number, script: string, extra = '') => {
    await mkdir(path.join(catalog, 'components', name));
    await writeFile(path.join(catalog, 'components', name, 'component.yaml'), `name: ${name}\ndescription: test component\nrank: ${rank}\ndefault: "1"\n`);
    await writeFile(
      path.join(catalog, 'components', name, '1.yaml'),
      `name: ${name}\nversion: "1"\nroots: [debian-bookworm]\ninstall:\n  script: ${JSON.stringify(script)}\nsmoke: "true"\ncostEstimateSeconds: 60\n${extra}`,
    );
  };
  await component('clash-a', 90, 'mkdir -p /opt/kiln-clash && echo from-a > /opt/kiln-clash/owner.txt\n');
  await component('clash-b', 91, 'mkdir -p /opt/kiln-clash && echo from-b > /opt/kiln-clash/owner.txt\n');
  await component('sealed', 92, 'echo sealed > /opt/kiln-sealed.txt\n', 'composable: false\n');
  return catalog;
}

describe('composition refuses what does not compose', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-clash-'));
    kiln = await startTestKiln({ builder: true, env: { KILN_COMPOSITION: 'true', KILN_CATALOG_DIR: await clashCatalog(dir) } });
  });
  after(async () => {
    await kiln?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const build = async (components: string[], tag: string) => {
    const up = await upload(kiln, Buffer.from('#!/bin/sh\ncat /opt/kiln-clash/owner.txt /opt/kiln-sealed.txt 2>/dev/null\n'));
    const res = await postBuild(kiln, { components, uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image: `clash/app:${tag}` });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const b = (await waitForBuild(kiln, res.body.id)) as unknown as Omit<BuildView, 'plan'> & { plan: Plan };
    return { build: b, log: await (await call(kiln, `/v1/builds/${b.id}/logs`)).text() };
  };

  it('two layers that write the same file differently: refused with the path named, and the build installs and succeeds', async () => {
    const first = await build(['clash-a', 'clash-b'], '1');
    assert.equal(first.build.status, 'succeeded', first.build.error ?? '');
    const refused = await waitFor(
      'a verdict on clash-a + clash-b',
      async () => {
        const list = ((await (await call(kiln, '/v1/compositions')).json()) as { compositions: { components: string[]; status: string; conflicts: string[] | null; error: string | null }[] }).compositions;
        const c = list.find((x) => x.components.join('+') === 'clash-a@1+clash-b@1');
        return c && c.status !== 'verifying' ? c : undefined;
      },
      300_000,
    );
    assert.equal(refused.status, 'conflict', JSON.stringify(refused));
    assert.deepEqual(refused.conflicts, ['/opt/kiln-clash/owner.txt: different content (clash-a@1 vs clash-b@1)']);

    const said = (await (
      await call(kiln, '/v1/builds/preview', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ components: ['clash-b', 'clash-a'] }) })
    ).json()) as { route: string; reason: string };
    assert.equal(said.route, 'install');
    assert.match(said.reason, /not composable/);
    const second = await build(['clash-a', 'clash-b'], '2');
    assert.equal(second.build.status, 'succeeded', second.build.error ?? '');
    assert.notEqual(second.build.plan.base.kind, 'composed');
    assert.match(second.log, /kiln: installing: the combination is not composable: 1 path\(s\) written differently by two layers/);
    const run = await runImage(kiln.infra.docker, second.build.imageRef);
    assert.equal(run.output.trim(), 'from-b', 'installed in order, the later component wins, as it always did');
  });

  it('a component marked not composable installs, and no layer of it is built', async () => {
    const { build: b, log } = await build(['sealed'], '3');
    assert.equal(b.status, 'succeeded', b.error ?? '');
    assert.match(log, /kiln: installing: sealed@1 is marked not composable in the catalog/);
    const layers = ((await (await call(kiln, '/v1/layers')).json()) as { layers: { component: string }[] }).layers;
    assert.ok(!layers.some((l) => l.component === 'sealed@1'), 'no layer of sealed@1');
    assert.equal((await runImage(kiln.infra.docker, b.imageRef)).output.trim(), 'sealed');
  });
});

describe('composition ahead of demand', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-ahead-'));
    // A catalog of two small components only, so that "every catalog version" is quick to build here.
    const catalog = path.join(dir, 'catalog');
    await mkdir(path.join(catalog, 'roots'), { recursive: true });
    await cp(path.resolve(import.meta.dirname, '../base-images/roots'), path.join(catalog, 'roots'), { recursive: true });
    for (const [name, rank] of [['tiny-a', 1], ['tiny-b', 2]] as const) {
      await mkdir(path.join(catalog, 'components', name), { recursive: true });
      await writeFile(path.join(catalog, 'components', name, 'component.yaml'), `name: ${name}\ndescription: a small test component\nrank: ${rank}\ndefault: "1"\n`);
      await writeFile(
        path.join(catalog, 'components', name, '1.yaml'),
        `name: ${name}\nversion: "1"\nroots: [debian-bookworm]\ninstall:\n  script: "echo ${name} > /opt/${name}.txt\\n"\nsmoke: "test -f /opt/${name}.txt"\ncostEstimateSeconds: 60\n`,
      );
    }
    kiln = await startTestKiln({ builder: true, analyzer: true, env: { KILN_COMPOSITION: 'true', KILN_CATALOG_DIR: catalog, KILN_ANALYZER_INTERVAL_SECONDS: '0' } });
  });
  after(async () => {
    await kiln?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('an analysis queues every catalog version\'s layer; the first build of a combination never seen is composed', async () => {
    const res = await call({ url: kiln.url, token: kiln.adminToken }, '/v1/analyzer/run?wait=60', { method: 'POST' });
    assert.equal(res.status, 200, await res.clone().text());
    const run = (await res.json()) as { summary: string; decisions: { layers?: { build: { components: string[]; reason: string }[] } } };
    assert.deepEqual(run.decisions.layers?.build.map((b) => b.components.join('+')).sort(), ['tiny-a@1', 'tiny-b@1'], run.summary);
    await waitFor(
      'both layers',
      async () => {
        const layers = ((await (await call(kiln, '/v1/layers?status=ready')).json()) as { layers: { component: string }[] }).layers;
        return layers.length === 2 ? layers : undefined;
      },
      180_000,
    );

    const up = await upload(kiln, Buffer.from('#!/bin/sh\ncat /opt/tiny-a.txt /opt/tiny-b.txt\n'));
    const posted = await postBuild(kiln, { components: ['tiny-b', 'tiny-a'], uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image: 'ahead/app:1' });
    assert.equal(posted.status, 202, JSON.stringify(posted.body));
    const b = (await waitForBuild(kiln, posted.body.id)) as unknown as Omit<BuildView, 'plan' | 'steps'> & { plan: Plan; steps: Step[] };
    assert.equal(b.status, 'succeeded', b.error ?? '');
    assert.equal(b.plan.base.kind, 'composed');
    assert.equal(b.plan.base.verifiedNow, true, 'its first build verified the combination');
    assert.deepEqual(b.steps.map((x) => x.kind), ['layer', 'layer', 'verify', 'assemble'], 'nothing installed');
    assert.equal((await runImage(kiln.infra.docker, b.imageRef)).output.trim(), 'tiny-a\ntiny-b');
  });
});


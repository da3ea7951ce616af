// kiln against real registries configured as production ones are: Debian's docker-registry with htpasswd Basic auth,
// with token auth (the test's issuer signs the tokens; the registry checks them), and with TLS from a CA made for the
// test. In each: a build is pushed and its digest verified, a template is built, retired and its manifest deleted, and
// a wrong password (or a missing CA) fails with an error that names the registry and the cause.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../core/config.ts';
import { registryClientFrom } from '../core/registry-client.ts';
import { installEngineCa } from '../stack/engine-ca.ts';
import { call, postBuild, upload, waitForBuild } from './helpers/api-client.ts';
import { spawnBuilder, stopChild } from './helpers/builder-process.ts';
import { pastBuilds } from './helpers/past-builds.ts';
import { ROBOT, startScratchRegistry, type RegistryKind, type ScratchRegistry } from './helpers/scratch-registry.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const templateSettings = {
  KILN_TEMPLATE_MAX: '1',
  KILN_TEMPLATE_MIN_SUPPORT: '1',
  KILN_TEMPLATE_MIN_SECONDS: '0',
  KILN_TEMPLATE_STORAGE_SECONDS_PER_GIB: '0',
  KILN_TEMPLATE_GRACE_SECONDS: '0',
  KILN_ANALYZER_INTERVAL_SECONDS: '0',
};

const described: Record<Exclude<RegistryKind, 'plain'>, string> = {
  basic: 'htpasswd Basic auth',
  token: 'token auth',
  tls: 'TLS from a private CA',
};

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\$]/g, '\\$&');

async function buildHello(kiln: TestKiln, image: string) {
  const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho hello from ${image}\n`), 'hello');
  assert.equal(up.status, 201);
  const res = await postBuild(kiln, { components: ['openssl'], uploadId: up.body.id, binaryPath: '/usr/local/bin/hello', entrypoint: ['/usr/local/bin/hello'], image });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return waitForBuild(kiln, res.body.id);
}

async function analyze(kiln: TestKiln) {
  const res = await call({ url: kiln.url, token: kiln.adminToken }, '/v1/analyzer/run?wait=60', { method: 'POST' });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as { summary: string; decisions: { build: { key: string }[]; retire: { id: string }[]; imagesDeleted: string[] } };
}

async function readyTemplate(kiln: TestKiln): Promise<{ id: string; status: string; imageRef: string; digest: string }> {
  const deadline = Date.now() + 240_000;
  for (;;) {
    const { templates } = (await (await call(kiln, '/v1/templates')).json()) as { templates: { id: string; status: string; imageRef: string; digest: string; error?: string }[] };
    const t = templates[0];
    if (t && t.status !== 'building') return t;
    if (Date.now() > deadline) throw new Error(`no template ready: ${JSON.stringify(templates)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

for (const kind of ['basic', 'token', 'tls'] as const) {
  describe(`kiln against a registry with ${described[kind]}`, { timeout: 900_000 }, () => {
    let registry: ScratchRegistry;
    let engineCa: { remove(): Promise<void> } | undefined;
    let kiln: TestKiln;

    before(async () => {
      registry = await startScratchRegistry(kind);
      // The engine trusts the test CA the way a production host trusts a private one.
      if (registry.caFile) engineCa = await installEngineCa(registry.host, await readFile(registry.caFile, 'utf8'));
      kiln = await startTestKiln({ db: 'postgres', builder: true, analyzer: true, env: { ...registry.kilnEnv(), ...templateSettings } });
    });
    after(async () => {
      await kiln?.close();
      await engineCa?.remove();
      await registry?.remove();
    });

    it('pushes a build, and the registry serves the digest kiln recorded', async () => {
      const build = await buildHello(kiln, 'auth/hello:1');
      assert.equal(build.status, 'succeeded', build.error ?? '');
      const repository = `${kiln.config.REGISTRY_PREFIX}/${kiln.project}/auth/hello`;
      assert.equal(build.imageRef, `${registry.host}/${repository}:1`);
      assert.equal(await kiln.infra.registry.manifestDigest(repository, '1'), build.digest);
      const ready = await call(kiln, '/readyz');
      assert.equal(ready.status, 200, await ready.clone().text());
      if (registry.issuer) {
        // kiln's own client asked for exactly the scope of its call, as the robot account.
        const asked = registry.issuer.seen.filter((s) => s.account === ROBOT.username && s.status === 200).flatMap((s) => s.scopes);
        assert.ok(asked.includes(`repository:${repository}:pull`), JSON.stringify(asked));
      }
    });

    it('builds a template, retires it, and deletes its manifest', async () => {
      assert.equal((await buildHello(kiln, 'auth/hello:2')).status, 'succeeded');
      // The engine's cache (shared with every test) served openssl's install, which the analyzer rightly discounts:
      // builds on hosts whose cache did not have it are the history that makes a template worth it.
      await pastBuilds(kiln, [{ component: 'openssl@3', seconds: 30 }], 3);
      const run = await analyze(kiln);
      assert.equal(run.decisions.build.length, 1, run.summary);
      const t = await readyTemplate(kiln);
      assert.equal(t.status, 'ready');
      const repository = t.imageRef.slice(registry.host.length + 1, t.imageRef.lastIndexOf(':'));
      assert.equal(await kiln.infra.registry.manifestDigest(repository, t.id), t.digest, 'the template is in the registry');

      // The same installation with room for no template: the next analysis retires it, and (no grace) deletes it.
      await kiln.close({ keepData: true });
      kiln = await startTestKiln({ successorOf: kiln, builder: true, analyzer: true, env: { ...registry.kilnEnv(), ...templateSettings, KILN_TEMPLATE_MAX: '0' } });
      const retired = await analyze(kiln);
      assert.deepEqual(retired.decisions.retire.map((r) => r.id), [t.id], retired.summary);
      assert.deepEqual(retired.decisions.imagesDeleted, [t.imageRef]);
      assert.equal(await kiln.infra.registry.manifestDigest(repository, t.id), undefined, 'its manifest is gone from the registry');
      assert.deepEqual(await kiln.infra.registry.tags(repository), []);
    });

    it(kind === 'tls' ? 'without the CA, kiln and the engine both refuse, naming the registry and the certificate' : 'with a wrong password, kiln and the engine both fail, naming the registry and the credentials', async (t) => {
      const broken = kind === 'tls' ? registry.kilnEnv({ withCa: false }) : registry.kilnEnv({ password: 'wrong-password' });
      const host = escape(registry.host);
      // kiln's own client, as readiness and the analyzer use it.
      const client = registryClientFrom(loadConfig({ ...kiln.env, ...broken }));
      const cause = kind === 'tls' ? /TLS certificate is not trusted.*REGISTRY_CA_FILE/ : new RegExp(`refused the credentials of "${escape(ROBOT.username)}"`);
      await assert.rejects(client.check(), (err: Error) => {
        t.diagnostic(`kiln's client: ${err.message}`);
        return new RegExp(`^registry ${host}`).test(err.message) && cause.test(err.message);
      });

      // The engine: a builder configured the same way (as on another host) takes the next build and fails it.
      if (engineCa) {
        await engineCa.remove();
        engineCa = undefined;
      }
      await kiln.builder?.close();
      const builder = spawnBuilder(kiln, broken);
      try {
        const build = await buildHello(kiln, 'auth/hello:3');
        assert.equal(build.status, 'failed');
        t.diagnostic(`the build: ${build.error}`);
        const engineCause =
          kind === 'tls'
            ? /x509|certificate.*the Docker engine does not trust the registry's certificate: put the CA \(REGISTRY_CA_FILE\) at \/etc\/docker\/certs\.d\//
            : new RegExp(`the registry refused the credentials of "${escape(ROBOT.username)}"`);
        assert.match(build.error ?? '', new RegExp(`push to registry ${host} failed`));
        assert.match(build.error ?? '', engineCause);
        assert.equal(build.attempts, 1, 'a refusal is not retried');
      } finally {
        await stopChild(builder);
      }
    });
  });
}

describe('a registry with token auth accepts its issuer’s tokens and refuses everything else', () => {
  let registry: ScratchRegistry;
  before(async () => {
    registry = await startScratchRegistry('token');
  });
  after(() => registry?.remove());

  it('answers 200 only to a token of its issuer that grants the scope', async () => {
    const issuer = registry.issuer!;
    const url = `http://${registry.host}/v2/kiln-test/x/tags/list`;
    const get = (authorization?: string) => fetch(url, authorization ? { headers: { authorization } } : {});
    const pull = [{ type: 'repository', name: 'kiln-test/x', actions: ['pull'] }];

    const anonymous = await get();
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer realm="${escape(issuer.realm)}",service="${issuer.service}",scope="repository:kiln-test/x:pull"`));
    assert.equal((await get(`Basic ${Buffer.from(`${ROBOT.username}:${ROBOT.password}`).toString('base64')}`)).status, 401, 'Basic credentials are not a token');

    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { runOk } = await import('../stack/process.ts');
    const dir = await mkdtemp(path.join(tmpdir(), 'kiln-forger-'));
    try {
      await runOk('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/k`, '-out', `${dir}/c`, '-days', '1', '-subj', '/CN=forger']);
      const forged = issuer.token(pull, { keyPem: await readFile(`${dir}/k`, 'utf8'), certPem: await readFile(`${dir}/c`, 'utf8') });
      assert.equal((await get(`Bearer ${forged}`)).status, 401, 'signed by a key the registry does not trust');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    assert.equal((await get(`Bearer ${issuer.token([{ type: 'repository', name: 'kiln-test/other', actions: ['pull'] }])}`)).status, 401, 'a token for another repository');
    assert.equal((await get(`Bearer ${issuer.token(pull, { expiresIn: -120 })}`)).status, 401, 'an expired token');
    const ok = await get(`Bearer ${issuer.token(pull)}`);
    assert.equal(ok.status, 404, 'a valid token passes the auth check; the repository does not exist yet');
    assert.match(await ok.text(), /NAME_UNKNOWN/);
  });
});

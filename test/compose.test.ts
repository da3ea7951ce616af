// compose.yaml as Compose v2 (2.26, from the Debian 13 engine tree) renders it: the stack for real hosts — exact image
// versions, a healthcheck on every long-running service, kiln's settings as kiln parses them — and the override that
// runs it on this host. `npm run test:deploy` starts both; this checks their shape in a second.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { parse } from 'yaml';
import { loadConfig, loadStackConfig } from '../core/config.ts';
import { ensureEngineTree } from '../stack/engine-tree.ts';
import { stackStateDir } from '../stack/local-stack.ts';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '..');
const file = path.join(repo, 'compose.yaml');
const override = path.join(repo, 'deploy/compose.local.yaml');
const secrets = { POSTGRES_PASSWORD: 'p', S3_ACCESS_KEY_ID: 'u', S3_SECRET_ACCESS_KEY: 'secret-pw', REGISTRY_HOST: 'builds.example.com:5000' };

// The test's own environment points kiln at the local registry: compose must not pick that up.
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_') && !k.startsWith('KILN_')));

let compose: string;
const config = (files: string[], env: Record<string, string>) =>
  run(compose, ['-p', 'kiln-compose-test', ...files.flatMap((f) => ['-f', f]), 'config'], { env: { ...baseEnv, ...env } });

async function rendered(env: Record<string, string> = {}, files = [file]) {
  const { stdout } = await config(files, { ...secrets, ...env });
  return parse(stdout) as { services: Record<string, any> };
}

describe('compose.yaml', () => {
  before(async () => {
    compose = (await ensureEngineTree({ stateDir: stackStateDir(loadStackConfig(process.env, repo).dataDir), log: pino({ level: 'warn' }) })).compose;
  });

  it('is valid and describes the production-like stack', async () => {
    const config = await rendered();
    assert.deepEqual(Object.keys(config.services).sort(), ['analyzer', 'api', 'builder', 'postgres', 'redis', 'registry', 's3', 's3-buckets']);
    assert.deepEqual(config.services.redis.command, ['redis-server', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction']);
    const mounts = JSON.stringify(config.services.builder.volumes);
    assert.match(mounts, /\/var\/run\/docker\.sock/);
    assert.equal(config.services.api.environment.DATABASE_URL, 'postgres://kiln:p@postgres:5432/kiln');
    assert.equal(config.services.builder.environment.S3_ENDPOINT, 'http://s3:7070');
    // A maintained S3 server (MinIO's images are no longer published), with kiln's keys as its root account.
    assert.match(config.services.s3.image, /^versity\/versitygw:/);
    assert.equal(config.services.s3.environment.ROOT_ACCESS_KEY_ID, 'u');
  });

  it('pins every image to a release, and builds kiln’s own once', async () => {
    const { services } = await rendered();
    for (const [name, s] of Object.entries(services)) {
      // A version with a patch number (7.4.11, v1.7.0, 16.15): not `latest`, not a major alone.
      assert.match(s.image, /:v?\d+\.\d+(\.\d+)?(-[a-z0-9]+)?$/, `${name}: ${s.image}`);
    }
    assert.deepEqual(Object.keys(services).filter((n) => services[n].build), ['api'], 'the builder, the analyzer and s3-buckets run the image the api builds');
    for (const n of ['builder', 'analyzer', 's3-buckets']) assert.equal(services[n].image, services.api.image);
  });

  it('gives every long-running service a healthcheck, and starts each once what it needs is healthy', async () => {
    const { services } = await rendered();
    for (const [name, s] of Object.entries(services)) {
      if (name === 's3-buckets') {
        assert.equal(s.healthcheck, undefined, 'a one-shot: its exit code is its health');
        continue;
      }
      assert.ok(Array.isArray(s.healthcheck?.test) && s.healthcheck.test[0] === 'CMD', `${name} has a healthcheck`);
    }
    // kiln's processes answer on their readiness routes: the api on its port, the builder and analyzer on KILN_OPS_PORT.
    assert.deepEqual(services.api.healthcheck.test.slice(-1), ['http://127.0.0.1:8080/readyz']);
    assert.deepEqual(services.builder.healthcheck.test.slice(-1), [`http://127.0.0.1:${services.builder.environment.KILN_OPS_PORT}/readyz`]);
    assert.deepEqual(services.analyzer.healthcheck.test.slice(-1), [`http://127.0.0.1:${services.analyzer.environment.KILN_OPS_PORT}/readyz`]);
    for (const name of ['api', 'builder']) {
      for (const dep of ['postgres', 'redis', 's3', 'registry']) assert.equal(services[name].depends_on[dep].condition, 'service_healthy', `${name} → ${dep}`);
    }
    assert.equal(services['s3-buckets'].depends_on.s3.condition, 'service_healthy');
  });

  it('runs the builder as root, next to the socket it is given, and the api without one', async () => {
    const { services } = await rendered();
    assert.equal(services.builder.user, 'root');
    assert.equal(services.api.volumes, undefined, 'the api has no engine');
    assert.equal(services.api.user, undefined, 'the image’s own non-root user');
    assert.deepEqual(services.builder.command, ['node', '--import', 'tsx', 'builder/main.ts']);
    assert.deepEqual(services.api.command, ['node', 'api/dist/server.mjs']);
  });

  it('keeps the registry on object storage: the S3 driver on the stack’s S3 service, in a bucket made before it starts', async () => {
    const { services } = await rendered();
    const env = services.registry.environment;
    assert.equal(env.REGISTRY_STORAGE, 's3');
    assert.equal(env.REGISTRY_STORAGE_S3_REGIONENDPOINT, services.api.environment.S3_ENDPOINT);
    assert.equal(env.REGISTRY_STORAGE_S3_BUCKET, 'registry');
    assert.equal(env.REGISTRY_STORAGE_S3_FORCEPATHSTYLE, 'true');
    assert.equal(env.REGISTRY_STORAGE_S3_ACCESSKEY, 'u');
    assert.equal(env.REGISTRY_STORAGE_REDIRECT_DISABLE, 'true', 'clients cannot reach the S3 service: the registry serves blobs itself');
    assert.equal(env.REGISTRY_STORAGE_DELETE_ENABLED, 'true');
    assert.deepEqual(services['s3-buckets'].command, ['node', '--import', 'tsx', 'stack/ensure-buckets.ts', 'registry']);
    assert.equal(services.registry.depends_on['s3-buckets'].condition, 'service_completed_successfully');
  });

  it("hands kiln a configuration kiln accepts, HTTPS by default, and the plain-HTTP registry only when listed", async () => {
    for (const [env, plain] of [[{}, []], [{ REGISTRY_PLAIN_HTTP_HOSTS: 'builds.example.com:5000' }, ['builds.example.com:5000']]] as const) {
      const { services } = await rendered(env);
      for (const name of ['api', 'builder', 'analyzer']) {
        const config = loadConfig(services[name].environment as Record<string, string>);
        assert.deepEqual(config.REGISTRY_PLAIN_HTTP_HOSTS, plain, name);
        assert.equal(config.REGISTRY_USERNAME, undefined, 'an empty username is no username');
        assert.equal(config.registryCa, undefined);
        assert.equal(config.KILN_ROOT_IMAGE_PREFIX, 'kiln-root');
      }
      assert.equal(loadConfig(services.builder.environment as Record<string, string>).KILN_ROOT_PULL_MIRROR, undefined, 'an empty mirror is none');
    }
    // A Harbor robot account keeps its `$` through compose's interpolation when the environment holds it.
    const { services } = await rendered({ REGISTRY_USERNAME: 'robot$kiln+builder', REGISTRY_PASSWORD: 'pw' });
    // The rendered file escapes `$` as `$$` (so that it stays a valid compose file); the container gets one `$`.
    assert.equal(services.builder.environment.REGISTRY_USERNAME, 'robot$$kiln+builder');
    const inContainer = Object.fromEntries(Object.entries(services.builder.environment as Record<string, string>).map(([k, v]) => [k, v.replaceAll('$$', '$')]));
    assert.equal(loadConfig(inContainer).REGISTRY_USERNAME, 'robot$kiln+builder');
  });

  it('refuses to render without its secrets and the registry’s name, naming them', async () => {
    await assert.rejects(config([file], {}), /POSTGRES_PASSWORD|S3_ACCESS_KEY_ID|S3_SECRET_ACCESS_KEY|REGISTRY_HOST/);
    const { REGISTRY_HOST: _, ...withoutHost } = secrets;
    await assert.rejects(config([file], withoutHost), /set REGISTRY_HOST to a name both the host's engine and the containers reach/);
  });

  it('with deploy/compose.local.yaml: built images only, and the registry under one name for the engine and kiln', async () => {
    const registry = '127.0.0.1:15999';
    const env = { REGISTRY_HOST: registry, REGISTRY_PLAIN_HTTP_HOSTS: registry, KILN_LOCAL_REGISTRY_PORT: '15999', KILN_LOCAL_API_PORT: '18999' };
    const { services } = await rendered(env, [file, override]);
    assert.deepEqual(Object.keys(services).sort(), ['analyzer', 'api', 'builder', 'loopback', 'postgres', 'redis', 'registry', 's3', 's3-buckets']);
    for (const [name, s] of Object.entries(services)) assert.match(s.image, /^kiln-local\//, `${name} runs an image built here`);
    // One namespace, in which 127.0.0.1:15999 is the registry; its published ports are the host engine's way in.
    for (const name of ['api', 'builder', 'analyzer', 'registry']) {
      assert.equal(services[name].network_mode, 'service:loopback', name);
      assert.equal(services[name].ports, undefined, `${name} publishes nothing itself`);
    }
    assert.deepEqual(
      services.loopback.ports.map((p: { host_ip: string; published: string; target: number }) => `${p.host_ip}:${p.published}:${p.target}`).sort(),
      ['127.0.0.1:15999:15999', '127.0.0.1:18999:8080'],
    );
    assert.equal(services.registry.environment.REGISTRY_HTTP_ADDR, ':15999');
    assert.equal(services.registry.environment.REGISTRY_STORAGE, undefined, 'on its volume: s3rver lacks what the S3 driver needs');
    assert.equal(services.api.build.args.BASE, 'kiln-root:debian-bookworm');
    // kiln's containers keep compose.yaml's own addresses for everything else.
    assert.equal(services.builder.environment.DATABASE_URL, 'postgres://kiln:p@postgres:5432/kiln');
    assert.equal(services.builder.environment.REGISTRY_HOST, registry);
  });
});

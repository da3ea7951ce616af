// compose.yaml cannot run here (nothing can be pulled), so Debian's docker-compose validates it and we check its shape.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { loadConfig } from '../core/config.ts';

const run = promisify(execFile);
const file = path.resolve(import.meta.dirname, '../compose.yaml');
const secrets = { POSTGRES_PASSWORD: 'p', S3_ACCESS_KEY_ID: 'u', S3_SECRET_ACCESS_KEY: 'secret-pw', REGISTRY_HOST: 'builds.example.com:5000' };

// The test's own environment points kiln at the local registry: compose must not pick that up.
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));

async function rendered(env: Record<string, string> = {}) {
  const { stdout } = await run('docker-compose', ['-f', file, 'config'], { env: { ...baseEnv, ...secrets, ...env } });
  return parse(stdout) as { services: Record<string, any> };
}

describe('compose.yaml', () => {
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
    assert.deepEqual(services['s3-buckets'].command, ['npx', 'tsx', 'stack/ensure-buckets.ts', 'registry']);
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
      }
    }
    // A Harbor robot account keeps its `$` through compose's interpolation when the environment holds it.
    const { services } = await rendered({ REGISTRY_USERNAME: 'robot$kiln+builder', REGISTRY_PASSWORD: 'pw' });
    // The rendered file escapes `$` as `$$` (so that it stays a valid compose file); the container gets one `$`.
    assert.equal(services.builder.environment.REGISTRY_USERNAME, 'robot$$kiln+builder');
    const inContainer = Object.fromEntries(Object.entries(services.builder.environment as Record<string, string>).map(([k, v]) => [k, v.replaceAll('$$', '$')]));
    assert.equal(loadConfig(inContainer).REGISTRY_USERNAME, 'robot$kiln+builder');
  });

  it('refuses to render without its secrets and the registry’s name, naming them', async () => {
    const env = Object.fromEntries(Object.entries(baseEnv).filter(([k]) => !(k in secrets)));
    await assert.rejects(run('docker-compose', ['-f', file, 'config'], { env }), /POSTGRES_PASSWORD|S3_ACCESS_KEY_ID|S3_SECRET_ACCESS_KEY|REGISTRY_HOST/);
    const { REGISTRY_HOST: _, ...withoutHost } = secrets;
    await assert.rejects(
      run('docker-compose', ['-f', file, 'config'], { env: { ...env, ...withoutHost } }),
      /set REGISTRY_HOST to a name both the host's engine and the containers reach/,
    );
  });
});

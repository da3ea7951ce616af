import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, loadStackConfig } from '../../core/config.ts';

const minimal = { S3_BUCKET: 'kiln', S3_ACCESS_KEY_ID: 'a', S3_SECRET_ACCESS_KEY: 'b', REGISTRY_HOST: 'harbor.example.com' };

/** The problems a ConfigError lists, as `FIELD: message` lines. */
function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('the configuration was accepted');
}

describe('config', () => {
  it('applies the embedded defaults and freezes the result', () => {
    const c = loadConfig(minimal, '/srv');
    assert.equal(c.DATABASE_URL, undefined);
    assert.equal(c.dataDir, '/srv/.kiln-data');
    assert.equal(c.REDIS_URL, 'redis://127.0.0.1:6379');
    assert.equal(c.KILN_UPLOAD_LIMIT_BYTES, 2 * 1024 ** 3);
    assert.ok(Object.isFrozen(c));
  });

  it('lists every problem at once, secrets included, with no default for them', () => {
    assert.throws(
      () => loadConfig({ S3_BUCKET: 'Bad_Bucket', REDIS_URL: 'http://x', KILN_PORT: 'eighty', DATABASE_URL: 'mysql://x', REGISTRY_USERNAME: 'u' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const text = err.problems.join('\n');
        for (const key of ['S3_BUCKET', 'REDIS_URL', 'KILN_PORT', 'DATABASE_URL', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'REGISTRY_PASSWORD']) {
          assert.match(text, new RegExp(`^${key}:`, 'm'), `${key} missing from:\n${text}`);
        }
        return true;
      },
    );
  });

  it('checks rules across fields in the schema, listed with the field problems', () => {
    assert.throws(
      () => loadConfig({ ...minimal, KILN_PORT: 'eighty', KILN_BUILD_TIMEOUT_SECONDS: '7200', KILN_BUILD_TIMEOUT_MAX_SECONDS: '3600' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems.map((p) => p.split(':')[0]).sort(), ['KILN_BUILD_TIMEOUT_SECONDS', 'KILN_PORT']);
        assert.match(err.problems.join('\n'), /KILN_BUILD_TIMEOUT_SECONDS: must not exceed KILN_BUILD_TIMEOUT_MAX_SECONDS/);
        return true;
      },
    );
    assert.equal(loadConfig({ ...minimal, KILN_BUILD_TIMEOUT_SECONDS: '600', KILN_BUILD_TIMEOUT_MAX_SECONDS: '600' }).KILN_BUILD_TIMEOUT_SECONDS, 600);
  });

  it('speaks HTTPS to the registry unless its host is listed for plain HTTP, and wants a registry named', () => {
    const c = loadConfig(minimal);
    assert.deepEqual(c.REGISTRY_PLAIN_HTTP_HOSTS, []);
    assert.deepEqual(loadConfig({ ...minimal, REGISTRY_PLAIN_HTTP_HOSTS: ' 127.0.0.1:5000, registry.lan ' }).REGISTRY_PLAIN_HTTP_HOSTS, ['127.0.0.1:5000', 'registry.lan']);
    const { REGISTRY_HOST: _, ...withoutHost } = minimal;
    assert.match(problemsOf(() => loadConfig(withoutHost)).join('\n'), /^REGISTRY_HOST: required/m);
    assert.match(problemsOf(() => loadConfig({ ...minimal, REGISTRY_PLAIN_HTTP_HOSTS: 'http://x:5000' })).join('\n'), /^REGISTRY_PLAIN_HTTP_HOSTS/m);
    // The old switch is refused with what to set instead, not silently ignored.
    assert.match(problemsOf(() => loadConfig({ ...minimal, REGISTRY_INSECURE: 'true' })).join('\n'), /^REGISTRY_INSECURE: is no longer read.*REGISTRY_PLAIN_HTTP_HOSTS/m);
  });

  it('reads REGISTRY_CA_FILE once, and refuses a missing file, a file without a certificate, or a CA for a plain-HTTP host', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'kiln-config-'));
    try {
      const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
      await writeFile(path.join(dir, 'ca.pem'), pem);
      await writeFile(path.join(dir, 'junk.pem'), 'not a certificate');
      assert.equal(loadConfig({ ...minimal, REGISTRY_CA_FILE: path.join(dir, 'ca.pem') }).registryCa, pem);
      assert.equal(loadConfig({ ...minimal, REGISTRY_CA_FILE: '' }).registryCa, undefined, 'empty is unset');
      const problems = problemsOf(() =>
        loadConfig({ ...minimal, KILN_PORT: 'eighty', REGISTRY_CA_FILE: path.join(dir, 'missing.pem') }),
      ).join('\n');
      assert.match(problems, /^REGISTRY_CA_FILE: cannot read .*missing\.pem: ENOENT/m);
      assert.match(problems, /^KILN_PORT/m, 'listed with the other problems');
      assert.match(problemsOf(() => loadConfig({ ...minimal, REGISTRY_CA_FILE: path.join(dir, 'junk.pem') })).join('\n'), /holds no PEM certificate/);
      const plain = { ...minimal, REGISTRY_CA_FILE: path.join(dir, 'ca.pem'), REGISTRY_PLAIN_HTTP_HOSTS: minimal.REGISTRY_HOST };
      assert.match(problemsOf(() => loadConfig(plain)).join('\n'), /^REGISTRY_CA_FILE: is set, but REGISTRY_HOST is listed in REGISTRY_PLAIN_HTTP_HOSTS/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives the local stack launcher its settings through the same schema', () => {
    const s = loadStackConfig({ KILN_DATA_DIR: 'data', KILN_ROOT_IMAGE_PREFIX: 'my-root' }, '/srv');
    assert.equal(s.dataDir, '/srv/data');
    assert.equal(s.catalogDir, '/srv/base-images');
    assert.equal(s.KILN_ROOT_IMAGE_PREFIX, 'my-root');
    assert.throws(() => loadStackConfig({ KILN_ADMIN_TOKEN: 'short' }), /KILN_ADMIN_TOKEN: at least 32 characters/);
  });

  it('refuses a REGISTRY_USERNAME with a colon, which Basic auth cannot carry, and keeps robot names', () => {
    const problems = problemsOf(() => loadConfig({ ...minimal, REGISTRY_USERNAME: 'team:robot', REGISTRY_PASSWORD: 'secret' }));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /^REGISTRY_USERNAME: must not contain ":"/);
    assert.equal(loadConfig({ ...minimal, REGISTRY_USERNAME: 'robot$team+ci', REGISTRY_PASSWORD: 'pa:ss' }).REGISTRY_USERNAME, 'robot$team+ci');
  });
});

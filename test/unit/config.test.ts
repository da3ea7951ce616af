import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, loadStackConfig } from '../../core/config.ts';

const minimal = { S3_BUCKET: 'kiln', S3_ACCESS_KEY_ID: 'a', S3_SECRET_ACCESS_KEY: 'b' };

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

  it('gives the local stack launcher its settings through the same schema', () => {
    const s = loadStackConfig({ KILN_DATA_DIR: 'data', KILN_ROOT_IMAGE_PREFIX: 'my-root' }, '/srv');
    assert.equal(s.dataDir, '/srv/data');
    assert.equal(s.catalogDir, '/srv/base-images');
    assert.equal(s.KILN_ROOT_IMAGE_PREFIX, 'my-root');
    assert.throws(() => loadStackConfig({ KILN_ADMIN_TOKEN: 'short' }), /KILN_ADMIN_TOKEN: at least 32 characters/);
  });
});

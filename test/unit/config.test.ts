import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../core/config.ts';

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
});

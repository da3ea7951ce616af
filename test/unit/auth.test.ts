import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { bearerToken, generateToken, hashToken, sameToken } from '../../core/auth/api-token.ts';
import { pushCommitId, signPayload, verifySignature } from '../../core/auth/webhook-signature.ts';
import { canonicalHash } from '../../core/canonical-json.ts';
import { ConfigError, loadCliConfig, loadConfig } from '../../core/config.ts';
import { checkRouteDocumented } from '../../api/route-table.ts';

describe('API tokens', () => {
  it('are random, prefixed, and kept as a sha256 hash', () => {
    const a = generateToken();
    assert.match(a, /^kiln_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, generateToken());
    assert.match(hashToken(a), /^[0-9a-f]{64}$/);
    assert.ok(sameToken(a, a));
    assert.ok(!sameToken(a, `${a}x`));
  });

  it('come only from a Bearer authorization header', () => {
    assert.equal(bearerToken('Bearer kiln_abc'), 'kiln_abc');
    assert.equal(bearerToken('bearer  kiln_abc '), 'kiln_abc');
    assert.equal(bearerToken('Basic a2lsbjp4'), undefined);
    assert.equal(bearerToken('Bearer a b'), undefined);
    assert.equal(bearerToken(undefined), undefined);
  });
});

describe('webhook signatures', () => {
  const body = Buffer.from('{"after":"abc"}');
  it('accept GitHub’s X-Hub-Signature-256 for the exact body and key, nothing else', () => {
    const header = `sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}`;
    assert.equal(signPayload('s3cret', body), header);
    assert.ok(verifySignature('s3cret', body, header));
    assert.ok(verifySignature('s3cret', body, header.toUpperCase().replace('SHA256=', 'sha256=')));
    assert.ok(!verifySignature('other', body, header));
    assert.ok(!verifySignature('s3cret', Buffer.from('{"after":"abd"}'), header));
    assert.ok(!verifySignature('s3cret', body, undefined));
    assert.ok(!verifySignature('s3cret', body, header.slice(0, -2)));
    assert.ok(!verifySignature('s3cret', body, `sha1=${'0'.repeat(40)}`));
  });

  it('take the commit from head_commit.id, else after, and none from a deleted branch', () => {
    assert.equal(pushCommitId({ head_commit: { id: 'aaa' }, after: 'bbb' }), 'aaa');
    assert.equal(pushCommitId({ head_commit: null, after: 'bbb' }), 'bbb');
    assert.equal(pushCommitId({ after: '0000000000000000000000000000000000000000' }), undefined);
    assert.equal(pushCommitId({ zen: 'x' }), undefined);
    assert.equal(pushCommitId(null), undefined);
  });
});

describe('canonical hash', () => {
  it('ignores key order and undefined members, not values or array order', () => {
    assert.equal(canonicalHash({ a: 1, b: [1, 2], c: undefined }), canonicalHash({ b: [1, 2], a: 1 }));
    assert.notEqual(canonicalHash({ a: 1, b: [1, 2] }), canonicalHash({ a: 1, b: [2, 1] }));
    assert.notEqual(canonicalHash({ a: 1 }), canonicalHash({ a: '1' }));
  });
});

describe('route documentation rule', () => {
  it('refuses a visible route without operationId or responses, and skips the docs UI and HEAD twins', () => {
    assert.throws(() => checkRouteDocumented({ method: 'GET', url: '/v1/x', schema: { response: {} } as never }), /GET \/v1\/x needs schema.operationId/);
    assert.throws(() => checkRouteDocumented({ method: 'POST', url: '/v1/x', schema: { operationId: 'x' } as never }), /schema.response/);
    assert.deepEqual(checkRouteDocumented({ method: 'GET', url: '/docs/json', schema: { hide: true } as never }), []);
    assert.deepEqual(checkRouteDocumented({ method: 'HEAD', url: '/v1/x' }), []);
    assert.deepEqual(checkRouteDocumented({ method: ['GET', 'HEAD'], url: '/v1/x', schema: { operationId: 'getX', response: {} } as never }), [
      { method: 'GET', url: '/v1/x', operationId: 'getX' },
    ]);
  });
});

describe('auth configuration', () => {
  const minimal = { S3_BUCKET: 'kiln', S3_ACCESS_KEY_ID: 'a', S3_SECRET_ACCESS_KEY: 'b', REGISTRY_HOST: 'registry.example.com' };
  it('has no default admin token and refuses a short one', () => {
    assert.equal(loadConfig(minimal).KILN_ADMIN_TOKEN, undefined);
    assert.throws(() => loadConfig({ ...minimal, KILN_ADMIN_TOKEN: 'short' }), (e: unknown) => e instanceof ConfigError && /KILN_ADMIN_TOKEN/.test(e.message));
  });
  it('the CLI needs KILN_TOKEN and defaults KILN_URL', () => {
    assert.throws(() => loadCliConfig({}), /KILN_TOKEN/);
    assert.deepEqual(loadCliConfig({ KILN_TOKEN: 't', KILN_URL: 'http://kiln:8080/' }), { KILN_URL: 'http://kiln:8080', KILN_TOKEN: 't' });
  });
});

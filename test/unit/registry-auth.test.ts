import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { issuedToken, mergeScopes, parseChallenges, parseScope, scopeString, tokenUrl } from '../../core/registry-auth.ts';

describe('registry auth: challenges', () => {
  it('parses a token challenge whose quoted scope holds commas', () => {
    const [c] = parseChallenges('Bearer realm="https://harbor.example.com/service/token",service="harbor-registry",scope="repository:kiln/app:pull,push"');
    assert.deepEqual(c, {
      scheme: 'bearer',
      params: { realm: 'https://harbor.example.com/service/token', service: 'harbor-registry', scope: 'repository:kiln/app:pull,push' },
    });
  });

  it('parses several challenges, spaces around `=`, unquoted values, escapes, and any case of scheme and names', () => {
    const cs = parseChallenges('Basic realm="Registry Realm", BEARER Realm = "https://t/x" , service=reg, error="insufficient_scope", scope="a \\"b\\""');
    assert.deepEqual(cs, [
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://t/x', service: 'reg', error: 'insufficient_scope', scope: 'a "b"' } },
    ]);
  });

  it('returns nothing for an empty or garbled header rather than guessing', () => {
    assert.deepEqual(parseChallenges(''), []);
    assert.deepEqual(parseChallenges('"quoted"'), []);
  });
});

describe('registry auth: scopes', () => {
  it('writes scope strings as the token spec does', () => {
    assert.equal(scopeString({ repository: 'kiln/team/app', actions: ['push', 'pull', 'push'] }), 'repository:kiln/team/app:pull,push');
    assert.equal(scopeString({ repository: { catalog: true }, actions: ['*'] }), 'registry:catalog:*');
    assert.deepEqual(parseScope('repository:kiln/app:pull,push'), { repository: 'kiln/app', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('registry:catalog:*'), { repository: { catalog: true }, actions: ['*'] });
    assert.equal(parseScope('nonsense'), undefined);
  });

  it('merges the scopes of a mount into one per repository (one token covers source and target)', () => {
    const merged = mergeScopes([
      { repository: 'kiln/b', actions: ['push'] },
      { repository: 'kiln/a', actions: ['pull'] },
      { repository: 'kiln/b', actions: ['pull'] },
    ]);
    assert.deepEqual(merged, [
      { repository: 'kiln/a', actions: ['pull'] },
      { repository: 'kiln/b', actions: ['pull', 'push'] },
    ]);
    const url = new URL(tokenUrl({ scheme: 'bearer', params: { realm: 'https://t/token?x=1', service: 'reg' } }, merged, 'robot$kiln+ci'));
    assert.deepEqual(url.searchParams.getAll('scope'), ['repository:kiln/a:pull', 'repository:kiln/b:pull,push']);
    assert.equal(url.searchParams.get('service'), 'reg');
    assert.equal(url.searchParams.get('account'), 'robot$kiln+ci');
    assert.equal(url.searchParams.get('x'), '1', 'the realm keeps its own query');
  });
});

describe('registry auth: token lifetime', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('assumes 60 s when the answer says nothing (and never less), and refreshes before expiry', () => {
    assert.equal(issuedToken({ token: 't' }, now)!.refreshAt, now + 60_000 - 12_000);
    assert.equal(issuedToken({ token: 't', expires_in: 5 }, now)!.refreshAt, now + 60_000 - 12_000);
    assert.equal(issuedToken({ access_token: 't', expires_in: 1800 }, now)!.refreshAt, now + 1_800_000 - 30_000);
  });
  it('counts from issued_at when the clocks agree, from now when they do not', () => {
    assert.equal(issuedToken({ token: 't', expires_in: 300, issued_at: '2025-12-31T23:59:00Z' }, now)!.refreshAt, now - 60_000 + 300_000 - 30_000);
    assert.equal(issuedToken({ token: 't', expires_in: 300, issued_at: '2020-01-01T00:00:00Z' }, now)!.refreshAt, now + 300_000 - 30_000);
  });
  it('finds no token in an answer without one', () => {
    assert.equal(issuedToken({ expires_in: 60 }, now), undefined);
  });
});

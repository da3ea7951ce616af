// The transport's token mechanics against a small in-process registry double that counts what it is sent: one token
// per set of scopes, cached, fetched again on a 401, a stream body authorized before it is sent, credentials only to
// the registry's own origin. (The real registries — Basic, token, TLS — are in test/registry-kinds.test.ts.)
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createRegistryClient, createRegistryTransport } from '../../core/registry-client.ts';

interface Seen {
  method: string;
  path: string;
  authorization?: string;
  body?: string;
}

/** A registry double: tokens are `t<n>:<scopes>`; `rotate()` makes every token issued so far invalid. */
function tokenRegistry(opts: { realmHost?: string } = {}) {
  const seen: Seen[] = [];
  let issued = 0;
  let validFrom = 0;
  const scopesOf = (auth: string | undefined) => {
    const m = /^Bearer t(\d+):(.*)$/.exec(auth ?? '');
    return m && Number(m[1]) >= validFrom ? m[2]!.split(' ') : undefined;
  };
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const url = new URL(req.url!, 'http://x');
    seen.push({ method: req.method!, path: url.pathname + url.search, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), ...(body ? { body } : {}) });
    const realm = `http://${opts.realmHost ?? req.headers.host}/token`;
    if (url.pathname === '/token') {
      if (req.headers.authorization !== `Basic ${Buffer.from('robot$kiln:pw').toString('base64')}`) return void res.writeHead(401).end('bad credentials');
      issued++;
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `t${issued}:${url.searchParams.getAll('scope').join(' ')}`, expires_in: 300 }));
    }
    const granted = scopesOf(req.headers.authorization);
    const repo = /^\/v2\/(.+)\/(manifests|blobs|tags)\//.exec(url.pathname)?.[1];
    const need = repo ? `repository:${repo}:` : undefined;
    if (!granted || (need && !granted.some((s) => s.startsWith(need)))) {
      const scope = need ? `,scope="${need}pull"` : '';
      return void res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="double"${scope}` }).end();
    }
    res.writeHead(200, { 'docker-content-digest': 'sha256:abc' }).end();
  });
  return {
    seen,
    server,
    rotate: () => (validFrom = issued + 1),
    tokenRequests: () => seen.filter((s) => s.path.startsWith('/token')),
  };
}

describe('registry transport: the token flow', () => {
  const reg = tokenRegistry();
  let host: string;
  before(async () => {
    await new Promise<void>((r) => reg.server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(reg.server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => reg.server.close(() => r())));
  beforeEach(() => void reg.seen.splice(0));
  const transport = () => createRegistryTransport({ host, plainHttpHosts: [host], username: 'robot$kiln', password: 'pw' });

  it('asks once per set of scopes, with all of them in one token request, and reuses the token', async () => {
    const t = transport();
    const mount = [
      { repository: 'kiln/src', actions: ['pull' as const] },
      { repository: 'kiln/dst', actions: ['push' as const, 'pull' as const] },
    ];
    for (let i = 0; i < 3; i++) assert.equal((await t.request('/kiln/dst/blobs/uploads/?mount=x&from=kiln/src', { method: 'POST', scopes: mount })).status, 200);
    const tokens = reg.tokenRequests();
    assert.equal(tokens.length, 1, JSON.stringify(reg.seen));
    assert.deepEqual(new URL(`http://x${tokens[0]!.path}`).searchParams.getAll('scope'), ['repository:kiln/dst:pull,push', 'repository:kiln/src:pull']);
    assert.equal(reg.seen.filter((s) => s.path === '/v2/').length, 1, 'the challenge is learned once');
    await t.request('/kiln/other/manifests/1', { method: 'HEAD', scopes: [{ repository: 'kiln/other', actions: ['pull'] }] });
    assert.equal(reg.tokenRequests().length, 2, 'other scopes, another token');
  });

  it('asks once for requests that need the same token at the same time', async () => {
    const t = transport();
    const scopes = [{ repository: 'kiln/app', actions: ['pull' as const] }];
    const answers = await Promise.all(Array.from({ length: 8 }, () => t.request('/kiln/app/manifests/1', { method: 'HEAD', scopes })));
    assert.deepEqual(answers.map((r) => r.status), Array(8).fill(200));
    assert.equal(reg.tokenRequests().length, 1);
    assert.equal(reg.seen.filter((s) => s.path === '/v2/').length, 1);
  });

  it('fetches a new token when the registry stops accepting the cached one, and retries once', async () => {
    const t = transport();
    const scopes = [{ repository: 'kiln/app', actions: ['pull' as const] }];
    assert.equal((await t.request('/kiln/app/manifests/1', { method: 'HEAD', scopes })).status, 200);
    reg.rotate();
    assert.equal((await t.request('/kiln/app/manifests/1', { method: 'HEAD', scopes })).status, 200);
    assert.equal(reg.tokenRequests().length, 2);
  });

  it('adds the scope a 401 names (insufficient_scope) when the caller forgot it', async () => {
    const res = await transport().request('/kiln/forgot/manifests/1', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.match(reg.tokenRequests().at(-1)!.path, /scope=repository%3Akiln%2Fforgot%3Apull/);
  });

  it('authorizes a stream body before sending it: the first and only PUT carries the token and the bytes', async () => {
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('layer bytes'));
        c.close();
      },
    });
    const res = await transport().request('/kiln/app/blobs/uploads/1?digest=sha256:x', {
      method: 'PUT',
      body,
      duplex: 'half',
      scopes: [{ repository: 'kiln/app', actions: ['push', 'pull'] }],
    } as RequestInit);
    assert.equal(res.status, 200);
    const puts = reg.seen.filter((s) => s.method === 'PUT');
    assert.equal(puts.length, 1);
    assert.match(puts[0]!.authorization ?? '', /^Bearer t\d+:repository:kiln\/app:pull,push$/);
    assert.equal(puts[0]!.body, 'layer bytes');
  });

  it('sends credentials only to the registry itself, never to a URL elsewhere it hands out', async () => {
    const other = tokenRegistry();
    await new Promise<void>((r) => other.server.listen(0, '127.0.0.1', r));
    try {
      const elsewhere = `http://127.0.0.1:${(other.server.address() as AddressInfo).port}/v2/kiln/app/blobs/sha256:x`;
      await transport().request(elsewhere, { scopes: [{ repository: 'kiln/app', actions: ['pull'] }] });
      assert.equal(other.seen.length, 1);
      assert.equal(other.seen[0]!.authorization, undefined);
    } finally {
      await new Promise<void>((r) => other.server.close(() => r()));
    }
  });

  it('names the registry, the token service and the account when the password is wrong', async () => {
    const client = createRegistryClient({ host, plainHttpHosts: [host], username: 'robot$kiln', password: 'wrong' });
    await assert.rejects(client.manifestDigest('kiln/app', '1'), (err: Error) => {
      assert.match(err.message, new RegExp(`^registry ${host.replace(/\./g, '\\.')}: its token service http://${host.replace(/\./g, '\\.')}/token refused the credentials of "robot\\$kiln" \\(401`));
      return true;
    });
  });

  it('sends credentials in clear only to a token service on a host listed for plain HTTP', async () => {
    const port = (reg.server.address() as AddressInfo).port;
    const elsewhere = tokenRegistry({ realmHost: `localhost:${port}` });
    await new Promise<void>((r) => elsewhere.server.listen(0, '127.0.0.1', r));
    try {
      const regHost = `127.0.0.1:${(elsewhere.server.address() as AddressInfo).port}`;
      const client = createRegistryClient({ host: regHost, plainHttpHosts: [regHost], username: 'robot$kiln', password: 'pw' });
      await assert.rejects(client.manifestDigest('kiln/app', '1'), /token service http:\/\/localhost:\d+ is plain HTTP.*REGISTRY_PLAIN_HTTP_HOSTS/);
      assert.equal(reg.tokenRequests().length, 0, 'nothing was sent');
      const listed = createRegistryClient({ host: regHost, plainHttpHosts: [regHost, `localhost:${port}`], username: 'robot$kiln', password: 'pw' });
      assert.equal(await listed.manifestDigest('kiln/app', '1'), 'sha256:abc');
      assert.equal(reg.tokenRequests().length, 1);
    } finally {
      await new Promise<void>((r) => elsewhere.server.close(() => r()));
    }
  });

  it('speaks HTTPS to a host not listed for plain HTTP, and says what to change when it does not answer TLS', async () => {
    const https = createRegistryClient({ host, plainHttpHosts: [], username: 'robot$kiln', password: 'pw' });
    await assert.rejects(https.manifestDigest('kiln/app', '1'), /could not be reached at https:\/\/.*does not answer TLS.*REGISTRY_PLAIN_HTTP_HOSTS/);
  });
});

describe('registry transport: a read the registry fails is asked again', () => {
  // distribution on a filesystem answers 500 to a tag read while another client moves that tag.
  const seen: string[] = [];
  let failures = 0;
  const server = createServer((req, res) => {
    if (req.url === '/v2/') return void res.writeHead(200).end('{}'); // the transport's first look at how to authorize
    seen.push(`${req.method} ${req.url}`);
    if (failures > 0) {
      failures--;
      return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":"invalid checksum digest format"}]}');
    }
    res.writeHead(req.method === 'DELETE' ? 202 : 200, { 'docker-content-digest': 'sha256:abc' }).end();
  });
  let host: string;
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => void seen.splice(0));

  it('a HEAD answered 500 twice gets its answer on the third try', async () => {
    failures = 2;
    assert.equal(await createRegistryClient({ host, plainHttpHosts: [host] }).manifestDigest('kiln/app', 'current'), 'sha256:abc');
    assert.equal(seen.length, 3);
  });

  it('a read that keeps failing fails after three tries, naming the registry and its answer', async () => {
    failures = 5;
    await assert.rejects(createRegistryClient({ host, plainHttpHosts: [host] }).manifestDigest('kiln/app', 'current'), /registry 127\.0\.0\.1:\d+ answered 500 reading kiln\/app:current/);
    assert.equal(seen.length, 3);
    failures = 0;
  });

  it('a write answered 500 is not sent again', async () => {
    failures = 1;
    const res = await createRegistryTransport({ host, plainHttpHosts: [host] }).request('/kiln/app/manifests/sha256:abc', { method: 'DELETE' });
    assert.equal(res.status, 500);
    assert.deepEqual(seen, ['DELETE /v2/kiln/app/manifests/sha256:abc']);
  });
});

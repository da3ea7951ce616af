// The hostile request suite: hundreds of malformed and malicious requests, hand-written and generated (fast-check),
// across every route. Each must get a clear 4xx naming the field at fault — or, where the value is legal, be planned
// as exactly that literal (checked by parsing the Dockerfile the plan renders). Never a 5xx, never an injection.
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { BuildPlan } from '../../core/build-types.ts';
import { uploads } from '../../core/db/schema/uploads.ts';
import { call, type Target } from '../helpers/api-client.ts';
import { startTestKiln, type TestKiln } from '../helpers/test-kiln.ts';
import { assertPlannedDockerfile, type UserValues } from './dockerfile-check.ts';
import { answer, rawRequest, runCases, type Answer, type Case, type Expect } from './hostile-cases.ts';
import { fuzzSpec, hostileString, isSpecField, type FuzzSpec } from './hostile-strings.ts';
import { lyingSizeTar, makeTar, zeroBombTar, type FixtureEntry } from './tar-fixtures.ts';

const LIMIT = 8 * 1024 * 1024;
const cases: Case[] = [];
const add = (name: string, send: () => Promise<Answer>, expect: Expect) => cases.push({ name, send, expect });

describe('hostile requests', () => {
  let kiln: TestKiln;
  let admin: Target;
  let fileUpload: string;
  let tarUpload: string;
  let webhook: { id: string; secret: string };

  const json = (target: Target, method: string, path: string, body: unknown, headers: Record<string, string> = {}) => async () =>
    answer(await call(target, path, { method, headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' || body instanceof Uint8Array ? (body as string) : JSON.stringify(body) }));
  const get = (target: Target, path: string, headers: Record<string, string> = {}) => async () => answer(await call(target, path, { headers }));
  const uploadBody = (query: string, body: Buffer, contentType = 'application/octet-stream') => async () =>
    answer(await call(kiln, `/v1/uploads${query}`, { method: 'POST', headers: { 'content-type': contentType }, body: new Blob([new Uint8Array(body)]) }));
  const spec = (over: Partial<FuzzSpec> & Record<string, unknown> = {}) => ({
    root: 'debian-bookworm',
    components: [],
    uploadId: fileUpload,
    binaryPath: '/opt/app/app',
    entrypoint: ['/opt/app/app'],
    image: 'hostile/app:1',
    ...over,
  });
  const uploadRows = () => kiln.infra.database.db.$count(uploads);
  const uploadObjects = async () => (await kiln.objectKeys()).filter((k) => k.startsWith('uploads/')).length;

  /** An accepted build: its stored plan renders exactly the literal values asked for. */
  const builtLiterally = (user: UserValues) => async (a: Answer) => {
    assert.equal(a.status, 202, JSON.stringify(a.body));
    const res = await call(kiln, `/v1/builds/${a.body.id}`);
    const build = (await res.json()) as { plan: BuildPlan };
    assertPlannedDockerfile(kiln.infra.catalog, build.plan, user);
  };
  const postSpec = (name: string, s: ReturnType<typeof spec>, expect: Expect) => add(name, json(kiln, 'POST', '/v1/builds', s), expect);

  before(async () => {
    kiln = await startTestKiln({ env: { KILN_BUILD_RATE_LIMIT: '100000', KILN_UPLOAD_LIMIT_BYTES: String(LIMIT) } });
    admin = { url: kiln.url, token: kiln.adminToken };
    fileUpload = ((await (await call(kiln, '/v1/uploads', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'binary' })).json()) as { id: string }).id;
    const tar = await makeTar([{ name: 'app', content: 'x', mode: 0o755 }]);
    tarUpload = ((await (await call(kiln, '/v1/uploads?archive=tar', { method: 'POST', body: new Blob([new Uint8Array(tar)]) })).json()) as { id: string }).id;
    const hook = await call(kiln, '/v1/webhooks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'h', definition: { uploadId: fileUpload, binaryPath: '/opt/a', entrypoint: ['/opt/a'], repository: 'hooked/app' } }),
    });
    webhook = (await hook.json()) as { id: string; secret: string };
    assert.ok(webhook.secret, 'webhook created');
    defineCases();
  });
  after(() => kiln?.close());

  function defineCases() {
    // --- every route: no token, and tokens that are not tokens -------------------------------------------------
    const id = randomUUID();
    const routes = kiln.api.app.routeTable.filter((r) => r.url.startsWith('/v1/') && r.operationId !== 'deliverWebhook');
    assert.ok(routes.length >= 20, `routes: ${routes.map((r) => r.url).join(', ')}`);
    for (const r of routes) {
      const path = r.url.replace(/:[A-Za-z]+/g, id);
      add(`${r.method} ${r.url} without a token`, async () => answer(await fetch(`${kiln.url}${path}`, { method: r.method })), { refused: 'authorization', status: 401 });
    }
    const badTokens = ['Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', `Bearer ${'k'.repeat(8000)}`, 'Bearer kiln_$(id)', 'Bearer ../../etc/passwd',
      "Bearer ' OR 1=1 --", 'Bearer kiln_\u00ff\u00fe', 'bearer\tkiln_x', `Bearer ${kiln.token}x`, `Bearer ${kiln.token.slice(0, -1)}`, 'Bearer {{7*7}}', 'Token kiln_x'];
    for (const h of badTokens) add(`malformed token ${JSON.stringify(h.slice(0, 30))}`, async () => answer(await fetch(`${kiln.url}/v1/me`, { headers: { authorization: h } })), { refused: 'authorization', status: 401 });
    const adminOnly = ['createProject', 'listProjects', 'createToken', 'listTokens', 'revokeToken', 'getRetention', 'putRetention', 'deleteRetention', 'runRetention'];
    for (const r of kiln.api.app.routeTable.filter((r) => adminOnly.includes(r.operationId))) {
      const url = r.url.replace(':id', id).replace(':name', kiln.project);
      add(`${r.operationId} with a project token`, async () => answer(await call(kiln, url, { method: r.method, headers: { 'content-type': 'application/json' }, ...(['POST', 'PUT'].includes(r.method) ? { body: '{}' } : {}) })), { refused: 'authorization', status: 403 });
    }
    for (const p of ['other', '../test', '$(id)', 'x'.repeat(300), 'TEST', 'test\u00ff']) {
      add(`project token acting in ${JSON.stringify(p.slice(0, 20))}`, get(kiln, '/v1/builds', { 'x-kiln-project': p }), { refused: 'x-kiln-project', status: 403 });
      add(`admin token acting in unknown project ${JSON.stringify(p.slice(0, 20))}`, get(admin, '/v1/builds', { 'x-kiln-project': p }), { refused: 'x-kiln-project', status: 404 });
    }
    add('overlong header section', async () => answer(await fetch(`${kiln.url}/v1/me`, { headers: { ...{ authorization: `Bearer ${kiln.token}` }, 'x-big': 'a'.repeat(20_000) } })), {
      either: (a) => {
        assert.equal(a.status, 431);
        assert.match(String(a.body.message), /header size/);
      },
    });

    // --- ids in paths: traversal, injection, encodings ------------------------------------------------------------
    const idRoutes = kiln.api.app.routeTable.filter((r) => r.url.includes(':id') && r.operationId !== 'revokeToken');
    const ids = ['..%2F..%2Fetc%2Fpasswd', '%00', '%24(id)', "'%3B%20DROP%20TABLE%20builds%3B--", 'x'.repeat(65), '%E2%80%A8', '%C0%AF', '%ZZ', randomUUID().toUpperCase()];
    for (const r of idRoutes) {
      for (const bad of ids) {
        const path = r.url.replace(':id', bad);
        // Admin routes are asked with an admin token: the id, not the token, is what is under test.
        const token = r.auth === 'admin' ? kiln.adminToken : kiln.token;
        const headers = { authorization: `Bearer ${token}`, ...(r.method === 'POST' ? { 'content-type': 'application/json' } : {}) };
        const send = () => rawRequest(kiln, { method: r.method, path, headers, ...(r.method === 'POST' ? { body: Buffer.from('{}') } : {}) });
        // Bytes that do not decode are refused by fastify's router, before any handler (app.ts frameworkErrors).
        if (/%(C0|ZZ)/.test(bad)) add(`${r.method} ${r.url} with undecodable id ${bad}`, send, { refused: 'url', status: 400 });
        else add(`${r.method} ${r.url} with id ${bad.slice(0, 24)}`, send, { refused: (f) => f === 'id' || f === 'url' });
      }
    }
    for (const bad of ['not-a-uuid', '%00', '..']) add(`revokeToken with id ${bad}`, () => rawRequest(admin, { method: 'DELETE', path: `/v1/tokens/${bad}`, headers: { authorization: `Bearer ${kiln.adminToken}` } }), { refused: 'id' });
    add('unknown route', get(kiln, '/v1/../../etc/passwd'), { refused: 'url', status: 404 });
    add('unknown route with injection', get(kiln, '/v1/builds/x/$(id)'), { refused: 'url', status: 404 });

    // --- query strings ----------------------------------------------------------------------------------------------
    for (const [path, field] of [
      ['/v1/builds?limit=abc', 'limit'], ['/v1/builds?limit=-1', 'limit'], ['/v1/builds?limit=1e9', 'limit'], ['/v1/builds?limit=1&limit=2', 'limit'],
      ['/v1/builds?status=$(id)', 'status'], ['/v1/builds?status=queued%0aRUN', 'status'], ['/v1/uploads?limit=0', 'limit'], [`/v1/builds/${id}?wait=-1`, 'wait'],
      [`/v1/builds/${id}?wait=abc`, 'wait'], ['/v1/stats?windowDays=0', 'windowDays'], ['/v1/stats?windowDays=%00', 'windowDays'], ['/v1/analyzer/runs?limit=x', 'limit'],
      ['/v1/templates?status=$(id)', 'status'], ['/v1/builds?limit=%00', 'limit'], ['/v1/uploads?limit=%F0%9F%A6%80', 'limit'],
    ] as const) {
      add(`GET ${path}`, get(kiln, path), { refused: field, status: 400 });
    }
    add('GET /v1/tokens?project=NUL', get(admin, '/v1/tokens?project=%00'), { refused: 'project', status: 400 });
    add('GET /v1/tokens?project=lone surrogate', get(admin, '/v1/tokens?project=%ED%A0%80'), { either: (a) => assert.ok(a.status === 200 || a.status === 400, String(a.status)) });

    // --- build specs: injection in every string field --------------------------------------------------------------
    const injections = ['\nRUN touch /pwned', 'a\r\nUSER root', 'x\\\nRUN id', '<<EOF\nid\nEOF', 'a\u0000b', '\ud800', '\u001b[2J', 'a\u007f'];
    const legal = ['"; touch /pwned; "', '$(touch /pwned)', '`touch /pwned`', '${PATH}', "'quoted' \"double\"", 'a\\', '\\"]', '<<EOF', 'RUN id', '# escape=`', '\t tab', '\u2028\u0085', '🦀 é'];
    for (const v of injections) {
      const tag = JSON.stringify(v);
      postSpec(`root ${tag}`, spec({ root: v }), { refused: 'root' });
      postSpec(`component ${tag}`, spec({ components: [`jdk${v}`] }), { refused: 'components[0]' });
      postSpec(`component version ${tag}`, spec({ components: [`jdk@17${v}`] }), { refused: 'components[0]' });
      postSpec(`binaryPath ${tag}`, spec({ binaryPath: `/opt/${v}` }), { refused: 'binaryPath' });
      postSpec(`entrypoint ${tag}`, spec({ entrypoint: ['/bin/sh', v] }), { refused: 'entrypoint[1]' });
      postSpec(`cmd ${tag}`, spec({ cmd: [v] }), { refused: 'cmd[0]' });
      postSpec(`env value ${tag}`, spec({ env: { GOOD: 'x', BAD: v } }), { refused: 'env.BAD' });
      postSpec(`env key ${tag}`, spec({ env: { [`K${v}`]: 'x' } }), { refused: (f) => f === 'env' || f.startsWith('env.') });
      postSpec(`image repository ${tag}`, spec({ image: `app${v}:1` }), { refused: 'image' });
      postSpec(`image tag ${tag}`, spec({ image: `app:1${v}` }), { refused: 'image' });
    }
    for (const v of legal) {
      const tag = JSON.stringify(v);
      const s1 = spec({ entrypoint: ['/bin/sh', '-c', v], cmd: [v, 'x'] });
      postSpec(`entrypoint/cmd built literally: ${tag}`, s1, { accepted: builtLiterally(s1) });
      const s2 = spec({ env: { VALUE: v, OTHER: `${v}${v}` } });
      postSpec(`env built literally: ${tag}`, s2, { accepted: builtLiterally(s2) });
      postSpec(`binaryPath refused: ${tag}`, spec({ binaryPath: `/opt/${v}` }), { refused: 'binaryPath' });
      postSpec(`image refused: ${tag}`, spec({ image: `app:${v}` }), { refused: 'image' });
      postSpec(`component refused: ${tag}`, spec({ components: [v] }), { refused: 'components[0]' });
    }
    for (const p of ['../etc/passwd', '/opt/../etc/passwd', 'relative/app', '/opt/./app', '//etc/passwd', '/opt/app/', '/', '/opt/' + 'a'.repeat(300), '/opt/a b', '/opt/*']) {
      postSpec(`binaryPath traversal ${p.slice(0, 30)}`, spec({ binaryPath: p }), { refused: 'binaryPath' });
    }
    const tarSpec = spec({ uploadId: tarUpload, binaryPath: '/opt/unpacked', entrypoint: ['/opt/unpacked/app'] });
    postSpec('a tar upload is unpacked with COPY of the context folder', tarSpec, { accepted: builtLiterally(tarSpec) });

    // --- wrong types, missing and extra fields, huge and deep bodies -------------------------------------------------
    for (const [field, values] of [
      ['root', [1, null, true, {}, ['debian-bookworm']]], ['components', ['jdk', 1, { a: 1 }, [1], [null]]], ['uploadId', [1, null, {}]],
      ['binaryPath', [1, null, ['/opt/a']]], ['entrypoint', ['/bin/sh', [1], {}, [null]]], ['cmd', ['x', [{}]]], ['env', [[], 'A=1', { A: 1 }, { A: null }]],
      ['image', [1, null, ['a:b']]], ['priority', ['urgent', 1]], ['timeoutSeconds', ['60', -1, 1.5]],
    ] as const) {
      for (const v of values) postSpec(`${field} as ${JSON.stringify(v)}`, spec({ [field]: v }), { refused: (f) => f === field || f.startsWith(`${field}[`) || f.startsWith(`${field}.`) });
    }
    for (const field of ['uploadId', 'binaryPath', 'entrypoint', 'image']) {
      const s: Record<string, unknown> = spec();
      delete s[field];
      postSpec(`missing ${field}`, s as ReturnType<typeof spec>, { refused: field });
    }
    for (const extra of ['labels', 'RUN', 'user', 'dockerfile', 'volumes']) postSpec(`extra field ${extra}`, spec({ [extra]: 'x' }), { refused: extra });
    postSpec('32+ components', spec({ components: Array.from({ length: 1000 }, () => 'jdk') }), { refused: 'components' });
    postSpec('entrypoint of 65 args', spec({ entrypoint: Array.from({ length: 65 }, () => 'a') }), { refused: 'entrypoint' });
    postSpec('huge env value', spec({ env: { A: 'x'.repeat(9000) } }), { refused: 'env.A' });
    add('body over 256 KiB', json(kiln, 'POST', '/v1/builds', spec({ entrypoint: Array.from({ length: 40_000 }, () => 'aaaaaaa') })), { refused: 'body', status: 413 });
    add('deep JSON', json(kiln, 'POST', '/v1/builds', `{"env":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`), { refused: (f) => f === 'env.a' || f === 'body' || isSpecField(f) });
    add('deep arrays', json(kiln, 'POST', '/v1/builds', `{"components":${'['.repeat(50_000)}${']'.repeat(50_000)}}`), { refused: (f) => f.startsWith('components') || isSpecField(f) });
    for (const [name, body] of [
      ['invalid UTF-8', Buffer.concat([Buffer.from('{"root":"'), Buffer.from([0xc0, 0xaf, 0xff]), Buffer.from('"}')])], ['overlong UTF-8 slash', Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d])],
      ['empty body', Buffer.alloc(0)], ['truncated JSON', Buffer.from('{"root":')], ['JSON null', Buffer.from('null')], ['JSON array', Buffer.from('[]')], ['JSON string', Buffer.from('"x"')],
      ['BOM then JSON', Buffer.from('\ufeff{}')], ['__proto__', Buffer.from('{"__proto__":{"admin":true}}')], ['constructor.prototype', Buffer.from('{"constructor":{"prototype":{"admin":true}}}')],
      ['NaN', Buffer.from('{"timeoutSeconds":NaN}')], ['comments', Buffer.from('{/* x */}')], ['NUL key', Buffer.from('{"a\\u0000":1}')], ['lone surrogate key', Buffer.from('{"\\ud800":1}')],
    ] as const) {
      add(`POST /v1/builds: ${name}`, () => rawRequest(kiln, { method: 'POST', path: '/v1/builds', headers: { authorization: `Bearer ${kiln.token}`, 'content-type': 'application/json' }, body }), {
        refused: (f) => f === 'body' || isSpecField(f) || f.length <= 2, // the body, a spec field, or the bad key itself
      });
    }
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x']) {
      add(`POST /v1/builds as ${ct}`, async () => answer(await call(kiln, '/v1/builds', { method: 'POST', headers: { 'content-type': ct }, body: JSON.stringify(spec()) })), { refused: (f) => f === 'content-type' || f === 'body' });
    }
    add('Idempotency-Key with a newline', () => rawRequest(kiln, { method: 'POST', path: '/v1/builds', headers: { authorization: `Bearer ${kiln.token}`, 'content-type': 'application/json', 'idempotency-key': 'a b$(id)' }, body: Buffer.from(JSON.stringify(spec())) }), { refused: 'idempotency-key' });
    add('Idempotency-Key too long', json(kiln, 'POST', '/v1/builds', spec(), { 'idempotency-key': 'k'.repeat(300) }), { refused: 'idempotency-key' });

    // --- uploads: names, kinds, and archives that try to get out -------------------------------------------------
    add('filename with NUL', uploadBody('?filename=a%00b', Buffer.from('x')), { refused: 'filename' });
    add('filename with newline', uploadBody('?filename=a%0aRUN%20id', Buffer.from('x')), { refused: 'filename' });
    add('filename too long', uploadBody(`?filename=${'a'.repeat(256)}`, Buffer.from('x')), { refused: 'filename' });
    add('filename with traversal is kept as a name only', uploadBody('?filename=..%2F..%2Fetc%2Fpasswd', Buffer.from('traversal-name')), {
      accepted: (a) => {
        assert.equal(a.status, 201);
        assert.equal(a.body.filename, '../../etc/passwd');
      },
    });
    add('archive=zip', uploadBody('?archive=zip', Buffer.from('PK\u0003\u0004')), { refused: 'archive' });
    add('declared size over the limit', () => rawRequest(kiln, { method: 'POST', path: '/v1/uploads', headers: { authorization: `Bearer ${kiln.token}`, 'content-length': String(LIMIT + 1) } }), { refused: 'body', status: 413 });
    const hostileTars: [string, FixtureEntry[], string][] = [
      ['a ../../etc/x entry', [{ name: 'ok', content: 'x' }, { name: '../../etc/x', content: 'pwned' }], 'body.entries[1]'],
      ['a nested .. entry', [{ name: 'a/../../x', content: 'x' }], 'body.entries[0]'],
      ['an absolute entry', [{ name: '/etc/cron.d/x', content: '* * * * * root id' }], 'body.entries[0]'],
      ['a symlink escaping by ..', [{ name: 'l', type: 'symlink', linkname: '../../../etc' }], 'body.entries[0]'],
      ['an absolute symlink', [{ name: 'l', type: 'symlink', linkname: '/etc/shadow' }], 'body.entries[0]'],
      ['a symlink escaping through another symlink', [{ name: 'd/up', type: 'symlink', linkname: '..' }, { name: 'x', type: 'symlink', linkname: 'd/up/..' }], 'body.entries[1]'],
      ['a symlink loop', [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a/x' }], 'body.entries[0]'],
      ['a file written through a symlink', [{ name: 'l', type: 'symlink', linkname: 'sub' }, { name: 'sub/', type: 'directory' }, { name: 'l/x', content: 'x' }], 'body.entries[2]'],
      ['a hardlink out', [{ name: 'h', type: 'link', linkname: '../../etc/shadow' }], 'body.entries[0]'],
      ['an absolute hardlink', [{ name: 'h', type: 'link', linkname: '/etc/shadow' }], 'body.entries[0]'],
      ['a hardlink to nothing earlier', [{ name: 'h', type: 'link', linkname: 'later' }, { name: 'later', content: 'x' }], 'body.entries[0]'],
      ['a character device', [{ name: 'tty', type: 'character-device' }], 'body.entries[0]'],
      ['a block device', [{ name: 'sda', type: 'block-device' }], 'body.entries[0]'],
      ['a fifo', [{ name: 'pipe', type: 'fifo' }], 'body.entries[0]'],
      ['a duplicate file', [{ name: 'a', content: 'x' }, { name: './a', content: 'y' }], 'body.entries[1]'],
      ['a newline in a name', [{ name: 'a\nRUN id', content: 'x' }], 'body.entries[0]'],
      ['a backslash traversal', [{ name: '..\\..\\x', content: 'x' }], 'body.entries[0]'],
    ];
    for (const [name, entries, field] of hostileTars) {
      for (const gzip of [false, true]) {
        add(`archive with ${name}${gzip ? ' (gzip)' : ''}`, async () => {
          const before = { rows: await uploadRows(), objects: await uploadObjects() };
          const a = await uploadBody('?archive=tar', await makeTar(entries, { gzip }))();
          assert.equal(await uploadRows(), before.rows, 'no row');
          assert.equal(await uploadObjects(), before.objects, 'no object');
          return a;
        }, { refused: field, status: 400 });
      }
    }
    add('archive that is not a tar', uploadBody('?archive=tar', Buffer.from('not a tar '.repeat(100))), { refused: 'body', status: 400 });
    add('archive cut short', async () => uploadBody('?archive=tar', (await makeTar([{ name: 'a', content: Buffer.alloc(5000) }])).subarray(0, 3000))(), { refused: 'body', status: 400 });
    add('corrupt gzip', uploadBody('?archive=tar', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4])), { refused: 'body', status: 400 });
    add('gzip bomb (one entry)', async () => {
      const before = { rows: await uploadRows(), objects: await uploadObjects() };
      const a = await uploadBody('?archive=tar', await zeroBombTar(4 * LIMIT + 1024 * 1024))();
      assert.equal(await uploadRows(), before.rows, 'no row');
      assert.equal(await uploadObjects(), before.objects, 'no object');
      return a;
    }, { refused: 'body', status: 413 });
    add('gzip bomb (many entries)', async () => uploadBody('?archive=tar', await zeroBombTar(4 * LIMIT + 1024 * 1024, 300))(), { refused: 'body', status: 413 });
    add('tar bomb by a lying size header', async () => uploadBody('?archive=tar', await lyingSizeTar(2 ** 40))(), { refused: 'body', status: 413 });

    // --- projects, tokens, webhooks ----------------------------------------------------------------------------------
    for (const name of ['$(id)', '../x', 'Upper', 'a'.repeat(64), 'a\u0000', 'a\nb', '', 'a b', '-lead']) {
      add(`project named ${JSON.stringify(name.slice(0, 20))}`, json(admin, 'POST', '/v1/projects', { name }), { refused: 'name', status: 400 });
    }
    add('project with an extra field', json(admin, 'POST', '/v1/projects', { name: 'okname', admin: true }), { refused: 'admin' });
    add('token named with NUL', json(admin, 'POST', '/v1/tokens', { name: 'a\u0000', project: 'test' }), { refused: 'name' });
    add('token without project key', json(admin, 'POST', '/v1/tokens', { name: 'a' }), { refused: 'project' });
    add('token for project $(id)', json(admin, 'POST', '/v1/tokens', { name: 'a', project: '$(id)' }), { either: (a) => assert.ok([400, 404].includes(a.status), String(a.status)) });
    const definition = { uploadId: fileUpload, binaryPath: '/opt/a', entrypoint: ['/opt/a'], repository: 'hooked/app' };
    for (const [field, value] of [['repository', 'app:$(id)'], ['repository', 'app\nRUN id'], ['binaryPath', '/opt/../etc'], ['components', ['jdk;id']], ['entrypoint', ['a\nb']], ['image', 'x:y']] as const) {
      add(`webhook definition ${field}=${JSON.stringify(value)}`, json(kiln, 'POST', '/v1/webhooks', { definition: { ...definition, [field]: value } }), { refused: (f) => f.startsWith(`definition.${field}`) || f === 'definition' });
    }
    add('webhook named with NUL', json(kiln, 'POST', '/v1/webhooks', { name: 'a\u0000', definition }), { refused: 'name' });
    const deliver = (payload: string, sign = true, event = 'push') => async () =>
      answer(await fetch(`${kiln.url}/v1/webhooks/${webhook.id}/deliveries`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': event, ...(sign ? { 'x-hub-signature-256': `sha256=${createHmac('sha256', webhook.secret).update(payload).digest('hex')}` } : {}) },
        body: payload,
      }));
    add('delivery without signature', deliver('{"after":"abc"}', false), { either: (a) => { assert.equal(a.status, 401); assert.match(a.body.detail ?? '', /X-Hub-Signature-256/); } });
    for (const commit of ['$(id)', 'a\nRUN id', '../../x', 'a\u0000b', 'x'.repeat(300), '`id`', 'a:b', '\ud800']) {
      add(`signed delivery with commit ${JSON.stringify(commit.slice(0, 20))}`, deliver(JSON.stringify({ after: commit })), { refused: (f) => f === 'image' || f === 'body' });
    }
    add('signed delivery that is not JSON', deliver('{"after":'), { refused: 'body' });
    add('signed delivery, deep JSON', deliver(`{"after":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), { either: (a) => assert.ok(a.status === 200 || a.status === 400, String(a.status)) });

    // --- generated: fuzzed specs, fuzzed JSON bodies, fuzzed archive names ---------------------------------------
    const components = [...kiln.infra.catalog.components.values()].flatMap((c) => [c.name, ...[...c.versions.keys()].map((v) => `${c.name}@${v}`)]);
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    fc.sample(fuzzSpec({ uploadId: fc.constantFrom(fileUpload, tarUpload), components }), { numRuns: 150, seed }).forEach((s, n) => {
      const user = s.cmd?.length === 0 ? { ...s, cmd: undefined } : s;
      const sent = JSON.parse(JSON.stringify(user)) as FuzzSpec; // what JSON carries (undefined dropped)
      postSpec(`fuzzed spec #${n} (seed ${seed})`, sent as ReturnType<typeof spec>, {
        either: async (a) => {
          if (a.status === 202) return builtLiterally(sent)(a);
          assert.equal(a.status, 400, JSON.stringify(a.body));
          for (const p of a.body.problems ?? []) assert.ok(isSpecField(p.field), `problem names "${p.field}"`);
          assert.ok((a.body.problems ?? []).length > 0, 'names the field');
        },
      });
    });
    fc.sample(fc.record({ definition: fuzzSpec({ uploadId: fc.constant(fileUpload), components }).map(({ image, ...d }) => ({ ...d, repository: image.split(':')[0] ?? '' })) }), { numRuns: 30, seed }).forEach((body, n) => {
      add(`fuzzed webhook definition #${n}`, json(kiln, 'POST', '/v1/webhooks', JSON.parse(JSON.stringify(body))), {
        either: (a) => {
          if (a.status === 201) return;
          assert.equal(a.status, 400, JSON.stringify(a.body));
          for (const p of a.body.problems ?? []) assert.ok(isSpecField(p.field, 'definition.'), `problem names "${p.field}"`);
        },
      });
    });
    fc.sample(fc.jsonValue({ maxDepth: 4 }), { numRuns: 30, seed }).forEach((value, n) => {
      add(`fuzzed JSON body #${n}`, json(kiln, 'POST', '/v1/builds', JSON.stringify(value)), { refused: () => true });
    });
    fc.sample(fc.array(hostileString(3), { minLength: 1, maxLength: 3 }), { numRuns: 25, seed }).forEach((names, n) => {
      add(`fuzzed archive names #${n}`, async () => uploadBody('?archive=tar', await makeTar(names.map((name, i) => ({ name: `${name}${i}`, content: 'x' }))))(), {
        either: (a) => {
          if (a.status === 201) return;
          assert.equal(a.status, 400, JSON.stringify(a.body));
          assert.match(a.body.problems?.[0]?.field ?? '', /^body(\.entries\[\d+\])?$/);
        },
      });
    });
  }

  it('answers every hostile request with a clear 4xx naming the field, or builds the literal value', async (t) => {
    assert.ok(cases.length >= 200, `only ${cases.length} cases`);
    t.diagnostic(`hostile requests: ${cases.length} cases`);
    await runCases(cases);
  });
});

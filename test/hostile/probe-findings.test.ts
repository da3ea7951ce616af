// The hostile suite's second file: the classes of request a hostile probe of a running kiln found wanting, each
// turned into many cases — ids a uuid column refuses, delivery URLs that name no webhook (refused before their body),
// archives holding a file and a path inside it or an odd entry type, values whose Dockerfile line is too long,
// webhook definitions that ask to jump the queue, an analyzer asked not to wait, Last-Event-IDs Redis refuses, and a
// crowd of log followers. Same rules as the first file: a clear 4xx naming the field, or accepted and checked.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { BuildPlan } from '../../core/build-types.ts';
import { MAX_DOCKERFILE_LINE_BYTES } from '../../core/dockerfile-lines.ts';
import { uploads } from '../../core/db/schema/uploads.ts';
import { call, followLog, type Target } from '../helpers/api-client.ts';
import { argsWithLineBytes, envWithLineBytes } from '../helpers/long-lines.ts';
import { rawExchange, within } from '../helpers/raw-http.ts';
import { connectionsTo } from '../helpers/sockets.ts';
import { startTestKiln, type TestKiln } from '../helpers/test-kiln.ts';
import { waitUntil } from '../helpers/wait.ts';
import { assertPlannedDockerfile } from './dockerfile-check.ts';
import { answer, runCases, type Answer, type Case, type Expect } from './hostile-cases.ts';
import { makeTar, oddTypeflags, typeflagTar, type FixtureEntry } from './tar-fixtures.ts';

const MiB = 1024 * 1024;
const MAX = MAX_DOCKERFILE_LINE_BYTES;
const REDIS_PORT = Number(new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').port || 6379);
const cases: Case[] = [];
const add = (name: string, send: () => Promise<Answer>, expect: Expect) => cases.push({ name, send, expect });

/** The answer to a request whose head was sent with only a little of its body: it must come before the rest. */
async function answerBeforeBody(url: string, head: string, partial: Buffer): Promise<Answer> {
  const ex = await rawExchange(url, head, partial);
  try {
    // Deadlines, not speeds: the client never sends the rest, so an answer at all came before the body. Generous,
    // for a loaded machine.
    await within(ex.answered, 30_000, 'no answer before the body was sent');
    await within(ex.closed, 30_000, 'the refused request stayed open');
  } finally {
    ex.socket.destroy();
  }
  const text = ex.received();
  const split = text.indexOf('\r\n\r\n');
  const headers = text.slice(0, split);
  const body = (() => {
    try {
      return JSON.parse(text.slice(split + 4)) as Answer['body'];
    } catch {
      return { detail: text.slice(split + 4) };
    }
  })();
  return { status: ex.status()!, body, type: /content-type: ([^\r\n]+)/i.exec(headers)?.[1] ?? '' };
}

describe('hostile requests, after the probe', () => {
  let kiln: TestKiln;
  let admin: Target;
  let fileUpload: string;
  let endedBuild: string;

  const json = (target: Target, method: string, path: string, body: unknown, headers: Record<string, string> = {}) => async () =>
    answer(await call(target, path, { method, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }));
  const spec = (over: Record<string, unknown> = {}) => ({ uploadId: fileUpload, binaryPath: '/opt/app/app', entrypoint: ['/opt/app/app'], image: 'probe/app:1', ...over });
  const counts = async () => ({ rows: await kiln.infra.database.db.$count(uploads), objects: (await kiln.objectKeys()).filter((k) => k.startsWith('uploads/')).length });
  /** An archive upload that must be refused, leaving no row and no object behind. */
  const refusedArchive = (tar: () => Promise<Buffer>) => async () => {
    const before = await counts();
    const a = await answer(await call(kiln, '/v1/uploads?archive=tar', { method: 'POST', body: new Blob([new Uint8Array(await tar())]) }));
    assert.deepEqual(await counts(), before, 'nothing kept');
    return a;
  };
  /** An accepted build: its stored plan renders exactly the values asked for. */
  const plannedLiterally = (user: { binaryPath: string; entrypoint: string[]; cmd?: string[]; env?: Record<string, string> }) => async (a: Answer) => {
    assert.equal(a.status, 202, JSON.stringify(a.body).slice(0, 300));
    const build = (await (await call(kiln, `/v1/builds/${a.body.id}`)).json()) as { plan: BuildPlan };
    assertPlannedDockerfile(kiln.infra.catalog, build.plan, user);
  };

  before(async () => {
    kiln = await startTestKiln({ env: { KILN_BUILD_RATE_LIMIT: '100000', KILN_UPLOAD_LIMIT_BYTES: String(8 * MiB) } });
    admin = { url: kiln.url, token: kiln.adminToken };
    fileUpload = ((await (await call(kiln, '/v1/uploads', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'binary' })).json()) as { id: string }).id;
    // A build that has ended (canceled while queued: no builder here), whose log stream exists and holds its end.
    endedBuild = ((await (await json(kiln, 'POST', '/v1/builds', spec())()).body) as { id: string }).id;
    assert.equal((await call(kiln, `/v1/builds/${endedBuild}/cancel`, { method: 'POST' })).status, 202);
    defineCases();
  });
  after(() => kiln?.close());

  function defineCases() {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    const idRoutes = kiln.api.app.routeTable.filter((r) => r.url.includes(':id'));
    const send = (r: (typeof idRoutes)[number], id: string) => async () => {
      const token = r.auth === 'admin' ? kiln.adminToken : kiln.token;
      return answer(await call({ url: kiln.url, token }, r.url.replace(':id', encodeURIComponent(id)), {
        method: r.method,
        ...(r.method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
      }));
    };
    const byId = { refused: (f: string) => f === 'id' || f === 'url' };

    // --- ids that fit a route's pattern but no uuid column (the analyzer's runs answered 500) -------------------
    const uuid = randomUUID();
    const nearUuids = ['-'.repeat(36), '0'.repeat(36), '0'.repeat(32), `g${uuid.slice(1)}`, `{${uuid}}`, uuid.replace(/-/g, ''), '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff', '--------0000-0000-0000-000000000000', `${uuid.slice(0, 35)}-`, ` ${uuid.slice(1)}`, uuid.toUpperCase()];
    for (const r of idRoutes) for (const id of nearUuids) add(`${r.method} ${r.url} with id ${JSON.stringify(id)}`, send(r, id), byId);
    fc.sample(fc.string({ unit: fc.constantFrom(...'0123456789abcdef-'), minLength: 36, maxLength: 36 }), { numRuns: 150, seed }).forEach((id, n) => {
      const r = idRoutes[n % idRoutes.length]!;
      add(`${r.method} ${r.url} with fuzzed id ${id} (seed ${seed})`, send(r, id), byId);
    });

    // --- a delivery URL that names no webhook is refused before its body is read (no token needed to send one) ----
    const deliveryHead = (id: string) =>
      `POST /v1/webhooks/${id}/deliveries HTTP/1.1\r\nHost: kiln\r\nContent-Type: application/json\r\nX-Hub-Signature-256: sha256=${'0'.repeat(64)}\r\n` +
      `Content-Length: ${5 * MiB}\r\n\r\n`;
    for (const id of [...Array.from({ length: 12 }, () => randomUUID()), '-'.repeat(36), 'x', '0'.repeat(36)]) {
      add(`delivery to no webhook ${id}, body held back`, () => answerBeforeBody(kiln.url, deliveryHead(id), Buffer.alloc(16 * 1024, 0x20)), { refused: 'id', status: 404 });
    }
    // Nor is a body read before its sender is known.
    for (const [name, auth] of [['no token', ''], ['a wrong token', 'Authorization: Bearer kiln_nope\r\n'], ['a malformed token', 'Authorization: Basic x\r\n']] as const) {
      for (const path of ['/v1/uploads', '/v1/builds']) {
        const head = `POST ${path} HTTP/1.1\r\nHost: kiln\r\n${auth}Content-Type: application/octet-stream\r\nContent-Length: ${1024 * MiB}\r\n\r\n`;
        add(`POST ${path} with ${name}, body held back`, () => answerBeforeBody(kiln.url, head, Buffer.alloc(16 * 1024, 1)), { refused: 'authorization', status: 401 });
      }
    }

    // --- archives with a file and a path inside it, or an entry type kiln does not unpack ------------------------
    const nested: [string, FixtureEntry[], string][] = [
      ['a file, then a file inside it', [{ name: 'a', content: 'x' }, { name: 'a/b', content: 'y' }], 'body.entries[1]'],
      ['a file, then a file deep inside it', [{ name: 'a', content: 'x' }, { name: 'a/b/c/d', content: 'y' }], 'body.entries[1]'],
      ['a file, then a directory inside it', [{ name: 'a', content: 'x' }, { name: 'a/b/', type: 'directory' }], 'body.entries[1]'],
      ['a file, then a symlink inside it', [{ name: 'a', content: 'x' }, { name: 'a/l', type: 'symlink', linkname: '../a' }], 'body.entries[1]'],
      ['a hardlink, then a file inside it', [{ name: 'f', content: 'x' }, { name: 'h', type: 'link', linkname: 'f' }, { name: 'h/x', content: 'y' }], 'body.entries[2]'],
      ['a file inside a path, then that path as a file', [{ name: 'a/b', content: 'y' }, { name: 'a', content: 'x' }], 'body.entries[1]'],
      ['a file inside a path, then that path as a symlink', [{ name: 'a/b', content: 'y' }, { name: 'a', type: 'symlink', linkname: 'c' }], 'body.entries[1]'],
      ['a file inside a path, then that path as a hardlink', [{ name: 'f', content: 'x' }, { name: 'a/b', content: 'y' }, { name: 'a', type: 'link', linkname: 'f' }], 'body.entries[2]'],
      ['a directory, a file in it, then a file inside that', [{ name: 'd/', type: 'directory' }, { name: 'd/f', content: 'x' }, { name: 'd/f/g', content: 'y' }], 'body.entries[2]'],
    ];
    for (const [name, entries, field] of nested) {
      for (const gzip of [false, true]) add(`archive with ${name}${gzip ? ' (gzip)' : ''}`, refusedArchive(() => makeTar(entries, { gzip })), { refused: field, status: 400 });
    }
    const segment = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,7}$/);
    fc.sample(fc.tuple(fc.array(segment, { minLength: 1, maxLength: 3 }), fc.array(segment, { minLength: 1, maxLength: 3 }), fc.boolean(), fc.boolean()), { numRuns: 40, seed }).forEach(([outer, inner, fileFirst, gzip], n) => {
      const file = { name: outer.join('/'), content: 'f' };
      const inside = { name: [...outer, ...inner].join('/'), content: 'i' };
      const entries = fileFirst ? [file, inside] : [inside, file];
      add(`fuzzed archive #${n}: ${entries.map((e) => e.name).join(', ')}`, refusedArchive(() => makeTar(entries, { gzip })), { refused: 'body.entries[1]', status: 400 });
    });
    for (const flag of oddTypeflags) {
      for (const gzip of [false, true]) add(`archive with a typeflag '${flag}' entry${gzip ? ' (gzip)' : ''}`, refusedArchive(() => typeflagTar(flag, { gzip })), { refused: 'body.entries[0]', status: 400 });
    }

    // --- values whose Dockerfile line would pass the engine's limit ----------------------------------------------
    const atLimit = spec({ env: envWithLineBytes(MAX), entrypoint: argsWithLineBytes('ENTRYPOINT', MAX), cmd: argsWithLineBytes('CMD', MAX) });
    add('env, entrypoint and cmd each at the line limit', json(kiln, 'POST', '/v1/builds', atLimit), { accepted: plannedLiterally(atLimit) });
    for (const [field, over] of [['env', { env: envWithLineBytes(MAX + 1) }], ['entrypoint', { entrypoint: argsWithLineBytes('ENTRYPOINT', MAX + 1) }], ['cmd', { cmd: argsWithLineBytes('CMD', MAX + 1) }]] as const) {
      add(`${field} one byte over the line limit`, json(kiln, 'POST', '/v1/builds', spec(over)), { refused: field, status: 400 });
      add(`webhook definition with ${field} one byte over`, json(kiln, 'POST', '/v1/webhooks', { definition: { ...spec(over), image: undefined, repository: 'probe/app' } }), { refused: `definition.${field}`, status: 400 });
    }
    add('env of 2-byte characters over the limit in bytes, not in characters', json(kiln, 'POST', '/v1/builds', spec({ env: Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`W${i}`, 'é'.repeat(8000)])) })), { refused: 'env', status: 400 });
    fc.sample(fc.tuple(fc.constantFrom('env', 'entrypoint', 'cmd'), fc.integer({ min: MAX - 3000, max: MAX + 3000 })), { numRuns: 40, seed }).forEach(([field, bytes], n) => {
      const value = field === 'env' ? envWithLineBytes(bytes) : argsWithLineBytes(field === 'cmd' ? 'CMD' : 'ENTRYPOINT', bytes);
      const s = spec({ [field]: value });
      add(`fuzzed ${field} line of ${bytes} bytes #${n}`, json(kiln, 'POST', '/v1/builds', s), bytes > MAX ? { refused: field, status: 400 } : { accepted: plannedLiterally(s as never) });
    });

    // --- webhook definitions may not ask to start before people's builds -----------------------------------------
    const definition = { uploadId: fileUpload, binaryPath: '/opt/a', entrypoint: ['/opt/a'], repository: 'probe/hook' };
    for (const priority of ['interactive', 'INTERACTIVE', 'urgent', '', 1, null, ['ci'], { ci: true }]) {
      add(`webhook definition with priority ${JSON.stringify(priority)}`, json(kiln, 'POST', '/v1/webhooks', { definition: { ...definition, priority } }), { refused: 'definition.priority', status: 400 });
    }
    add('webhook definition with priority ci', json(kiln, 'POST', '/v1/webhooks', { definition: { ...definition, priority: 'ci' } }), { accepted: (a) => assert.equal(a.status, 201) });

    // --- the analyzer asked not to wait; waits it cannot grant ---------------------------------------------------
    for (const wait of ['0', '00', '-0', '0.0']) {
      add(`POST /v1/analyzer/run?wait=${wait} with no analyzer running answers at once`, async () => within(json(admin, 'POST', `/v1/analyzer/run?wait=${wait}`, {})(), 30_000, 'it waited'), {
        accepted: (a) => {
          assert.equal(a.status, 202, JSON.stringify(a.body));
          assert.equal(a.body.status, 'queued');
        },
      });
    }
    for (const wait of ['121', '-1', 'abc', '1e9', '%00']) add(`POST /v1/analyzer/run?wait=${wait}`, json(admin, 'POST', `/v1/analyzer/run?wait=${wait}`, {}), { refused: 'wait', status: 400 });

    // --- Last-Event-IDs Redis would refuse ------------------------------------------------------------------------
    const logsWith = (lastEventId: string) => async () =>
      answer(await call(kiln, `/v1/builds/${endedBuild}/logs`, { headers: { accept: 'text/event-stream', 'last-event-id': lastEventId } }));
    const badIds = ['18446744073709551616-0', '0-18446744073709551616', '99999999999999999999-0', '1-1-1', '-1-0', '1e3-0', '$', '+', '-', '>', '*', '0', '1', 'abc-def',
      '1.5-0', '0x10-0', '¹-0', `${'9'.repeat(21)}-0`, '1-', '-1', '1--1', `${'1'.repeat(30)}-${'1'.repeat(30)}`];
    for (const id of badIds) add(`Last-Event-ID ${JSON.stringify(id)}`, logsWith(id), { refused: 'last-event-id', status: 400 });
    fc.sample(fc.tuple(fc.bigInt({ min: 2n ** 64n, max: 10n ** 21n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.boolean()), { numRuns: 30, seed }).forEach(([big, ok, first], n) => {
      const id = first ? `${big}-${ok}` : `${ok}-${big}`;
      add(`fuzzed Last-Event-ID past 2^64 #${n}: ${id}`, logsWith(id), { refused: 'last-event-id', status: 400 });
    });
    for (const id of ['18446744073709551615-18446744073709551615', '0-0', '0-1']) {
      add(`Last-Event-ID ${id} (the largest or smallest Redis accepts)`, logsWith(id), {
        accepted: (a) => {
          assert.equal(a.status, 200);
          assert.match(String(a.body.detail), /event: end\ndata: \{"status":"canceled"\}/);
        },
      });
    }

    // --- a crowd of followers costs Redis one connection -------------------------------------------------------
    add('fifty followers of a queued build share one Redis connection and all see its end', async () => {
      const queued = ((await json(kiln, 'POST', '/v1/builds', spec())()).body as { id: string }).id;
      const before = await connectionsTo(process.pid, REDIS_PORT);
      let open = 0;
      const followers = Array.from({ length: 50 }, () => followLog(kiln, queued, undefined, { onOpen: () => open++ }));
      await waitUntil(() => open === 50, 'fifty followers are connected', 60_000);
      const during = await connectionsTo(process.pid, REDIS_PORT);
      assert.equal((await call(kiln, `/v1/builds/${queued}/cancel`, { method: 'POST' })).status, 202);
      const ends = (await Promise.all(followers)).map((f) => f.end);
      return { status: 200, type: 'application/json', body: { added: during - before, ends } };
    }, {
      accepted: (a) => {
        assert.ok(Number(a.body.added) <= 1, `${a.body.added} more Redis connections`);
        assert.deepEqual(a.body.ends, Array(50).fill('canceled'));
      },
    });
  }

  it('answers every request built from the probe’s findings with a clear 4xx naming the field, or accepts it as asked', async (t) => {
    assert.ok(cases.length >= 300, `only ${cases.length} cases`);
    t.diagnostic(`hostile requests after the probe: ${cases.length} cases`);
    await runCases(cases);
  });
});

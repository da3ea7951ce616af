// The hostile suite's third file: values that passed every schema and then failed in the database (500s) — dates
// outside the years a timestamptz compares, cursors holding one, retention periods a `real` cannot hold, a pushed
// repository address that is not well-formed text — and text with control characters that reached image labels;
// and project names that are kiln's own repositories, or look like one. Same rules as the other files: a clear 4xx
// naming the field, or accepted and checked.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { signPayload } from '../../core/auth/webhook-signature.ts';
import { RESERVED_NAMES } from '../../core/kiln-repositories.ts';
import { call, type Target } from '../helpers/api-client.ts';
import { startTestKiln, type TestKiln } from '../helpers/test-kiln.ts';
import { answer, runCases, type Answer, type Case, type Expect } from './hostile-cases.ts';

const cases: Case[] = [];
const add = (name: string, send: () => Promise<Answer>, expect: Expect) => cases.push({ name, send, expect });
const cursorOf = (at: string, id: string) => Buffer.from(JSON.stringify([at, id])).toString('base64url');

describe('hostile requests: values the database refuses, and kiln’s own names', () => {
  let kiln: TestKiln;
  let admin: Target;
  let uploadId: string;
  let hook: { id: string; url: string; secret: string };

  const json = (target: Target, method: string, path: string, body: unknown) => async () =>
    answer(await call(target, path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
  const get = (path: string) => async () => answer(await call(kiln, path));
  /** A push delivery signed with the webhook's secret, carrying `htmlUrl` as its repository's address. */
  const push = (htmlUrl: unknown, field: 'repository' | 'project' = 'repository') => async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', after: randomUUID().replace(/-/g, '').padEnd(40, '0'), [field]: field === 'repository' ? { html_url: htmlUrl } : { web_url: htmlUrl } });
    return answer(await fetch(hook.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signPayload(hook.secret, body) }, body }));
  };
  const spec = (over: Record<string, unknown> = {}) => ({ uploadId, binaryPath: '/opt/app/app', entrypoint: ['/opt/app/app'], image: 'probe/app:1', ...over });

  before(async () => {
    kiln = await startTestKiln({ env: { KILN_BUILD_RATE_LIMIT: '100000' } });
    admin = { url: kiln.url, token: kiln.adminToken };
    uploadId = ((await (await call(kiln, '/v1/uploads', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'binary' })).json()) as { id: string }).id;
    const res = await json(kiln, 'POST', '/v1/webhooks', { definition: { uploadId, binaryPath: '/opt/a', entrypoint: ['/opt/a'], repository: 'probe/hook' } })();
    assert.equal(res.status, 201, JSON.stringify(res.body));
    hook = res.body as unknown as typeof hook;
    defineCases();
  });
  after(() => kiln?.close());

  function defineCases() {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);

    // --- dates a timestamptz cannot compare: year 0, before year 1 by an offset, past 9999, JavaScript's extremes -----
    const badDates = ['0000-01-01T00:00:00Z', '0000-12-31T23:59:59Z', '0001-01-01T00:30:00+01:00', '0001-01-01T00:00:00+14:00', '9999-12-31T23:59:59-01:00'];
    for (const at of badDates) {
      for (const param of ['since', 'until']) add(`GET /v1/images?${param}=${at}`, get(`/v1/images?${param}=${encodeURIComponent(at)}`), { refused: param, status: 400 });
    }
    for (const at of ['0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '2024-02-29T12:00:00+05:30']) {
      add(`GET /v1/images?since=${at} (in range)`, get(`/v1/images?since=${encodeURIComponent(at)}`), { accepted: (a) => assert.equal(a.status, 200, JSON.stringify(a.body)) });
    }
    fc.sample(fc.integer({ min: -8_640_000_000_000_000, max: 8_640_000_000_000_000 }), { numRuns: 40, seed }).forEach((ms, n) => {
      const at = new Date(ms).toISOString();
      const inRange = ms >= Date.parse('0001-01-01T00:00:00Z') && ms <= Date.parse('9999-12-31T23:59:59.999Z');
      add(`fuzzed cursor date #${n}: ${at} (seed ${seed})`, get(`/v1/images?cursor=${cursorOf(at, randomUUID())}`), inRange ? { accepted: (a) => assert.equal(a.status, 200, JSON.stringify(a.body)) } : { refused: 'cursor', status: 400 });
    });
    for (const at of ['-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '-000001-01-01T00:00:00.000Z', '+010000-01-01T00:00:00.000Z']) {
      add(`GET /v1/images with a cursor at ${at}`, get(`/v1/images?cursor=${cursorOf(at, randomUUID())}`), { refused: 'cursor', status: 400 });
    }

    // --- retention periods a `real` column cannot hold, or that mean nothing ------------------------------------------
    const retention = (keepDays: unknown) => json(admin, 'PUT', `/v1/projects/${kiln.project}/retention`, { keepDays });
    for (const keepDays of [1e-300, 5e-324, 1e-45, 1e-39, 1e-10, 0.0009, 0, -1, 1e300]) add(`retention keepDays ${keepDays}`, retention(keepDays), { refused: 'keepDays', status: 400 });
    fc.sample(fc.double({ min: 5e-324, max: 0.000999, noNaN: true }), { numRuns: 30, seed }).forEach((d, n) => add(`fuzzed tiny keepDays #${n}: ${d}`, retention(d), { refused: 'keepDays', status: 400 }));
    for (const keepDays of [0.001, 0.5, 30, 36_500]) {
      add(`retention keepDays ${keepDays}`, retention(keepDays), { accepted: (a) => assert.equal(a.status, 200, JSON.stringify(a.body)) });
    }

    // --- text that is no one line of well-formed Unicode: in a build's source, in a pushed repository's address ---------
    const controls = [...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)), '\u007f', '\u0085', '\u009b'];
    for (const c of controls) {
      const source = `https://git.example.com/team/${c}app`;
      if (c !== '\u0000') add(`source with U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`, json(kiln, 'POST', '/v1/builds', spec({ source })), { refused: (f) => f === 'source', status: 400 });
      add(`push whose repository.html_url holds U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`, push(source), { refused: 'body.repository.html_url', status: 400 });
    }
    for (const source of ['ftp://x/y', 'not a url', 'https//x', 'javascript:alert(1)', '/team/app', 'https:', `https://x/${'a'.repeat(500)}`]) {
      add(`source ${source.slice(0, 40)}`, json(kiln, 'POST', '/v1/builds', spec({ source })), { refused: 'source', status: 400 });
    }
    add('source https://git.example.com/team/app', json(kiln, 'POST', '/v1/builds', spec({ source: 'https://git.example.com/team/app' })), { accepted: (a) => assert.equal(a.status, 202, JSON.stringify(a.body)) });
    for (const s of ['\ud800', '\udfff', '\udc00x\ud83d', 'x\ud83d']) {
      add(`push whose repository.html_url holds a lone surrogate ${JSON.stringify(s)}`, push(`https://x/${s}y`), { refused: 'body.repository.html_url', status: 400 });
      add(`push whose project.web_url holds a lone surrogate ${JSON.stringify(s)}`, push(`https://x/${s}y`, 'project'), { refused: 'body.project.web_url', status: 400 });
    }
    for (const url of ['https://github.com/team/app', 'https://x/😀y', 'git@github.com:team/app.git']) {
      add(`push whose repository.html_url is ${url}`, push(url), { accepted: (a) => assert.equal(a.status, 202, JSON.stringify(a.body)) });
    }

    // --- project names that are kiln's own repositories, in any case and with any separators ---------------------------
    const lookAlikes = RESERVED_NAMES.flatMap((n) => [n, n.replace('-', '.'), n.replace('-', '_'), n.replace('-', '__'), n.replace('-', '--'), n.replace('-', '-.-'), n.replace('-', ''), n.toUpperCase(), n.replace(/^k/, 'K')]);
    for (const name of lookAlikes) {
      add(`POST /v1/projects ${name}`, json(admin, 'POST', '/v1/projects', { name }), {
        accepted: (a) => {
          assert.equal(a.status, 400, JSON.stringify(a.body));
          const problem = a.body.problems?.find((p) => p.field === 'name');
          assert.ok(problem, JSON.stringify(a.body));
          if (name === name.toLowerCase()) assert.match(problem.message, /reserved/, problem.message);
        },
      });
    }
    const separators = fc.constantFrom('-', '.', '_', '__', '--', '.-', '');
    fc.sample(fc.tuple(fc.constantFrom(...RESERVED_NAMES), separators), { numRuns: 30, seed }).forEach(([n, sep], i) => {
      const name = n.replace('-', sep);
      add(`fuzzed look-alike project #${i}: ${name}`, json(admin, 'POST', '/v1/projects', { name }), { refused: 'name', status: 400 });
    });
    add('POST /v1/projects kiln-layer-tools (not reserved)', json(admin, 'POST', '/v1/projects', { name: `kiln-layer-tools-${randomUUID().slice(0, 8)}` }), {
      accepted: (a) => assert.equal(a.status, 201, JSON.stringify(a.body)),
    });
  }

  it('answers every value the database would refuse, and every reserved name, with a clear 4xx naming the field', async (t) => {
    assert.ok(cases.length >= 200, `only ${cases.length} cases`);
    t.diagnostic(`hostile requests, stored values and reserved names: ${cases.length} cases`);
    await runCases(cases);
  });
});

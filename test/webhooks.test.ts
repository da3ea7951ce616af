// Webhooks as a project and GitHub use them: save a build definition, get a URL and a secret; a push signed with the
// secret starts one build tagged with the commit id; a wrong or missing signature gets 401 and starts nothing.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { JOB_PRIORITY } from '../core/queues.ts';
import { call, upload } from './helpers/api-client.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const commit = 'c0ffee0123456789abcdef0123456789abcdef01';
const pushPayload = (id: string) =>
  JSON.stringify({ ref: 'refs/heads/main', after: id, head_commit: { id, message: 'change' }, repository: { full_name: 'team/app', html_url: 'https://github.com/team/app' } });
const sign = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

describe('webhooks', () => {
  let kiln: TestKiln;
  let hook: { id: string; url: string; secret: string };
  before(async () => {
    kiln = await startTestKiln();
    const up = await upload(kiln, Buffer.from('#!/bin/sh\necho pushed\n'), 'app.sh');
    const res = await call(kiln, '/v1/webhooks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'main branch',
        definition: { components: ['openssl'], uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], repository: 'team/app' },
      }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    hook = (await res.json()) as typeof hook;
  });
  after(() => kiln?.close());

  const builds = async () => ((await (await call(kiln, '/v1/builds')).json()) as { items: { id: string; imageRef: string }[] }).items;
  const deliver = (body: string, headers: Record<string, string>) =>
    fetch(hook.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'push', ...headers }, body });

  it('hands out a delivery URL and a secret once; listings never show the secret', async () => {
    assert.equal(hook.url, `${kiln.url}/v1/webhooks/${hook.id}/deliveries`);
    assert.match(hook.secret, /^[0-9a-f]{64}$/);
    const listed = await (await call(kiln, '/v1/webhooks')).text();
    assert.ok(listed.includes(hook.id) && !listed.includes(hook.secret));
  });

  it('a wrong or missing signature gets 401 and starts nothing', async () => {
    const body = pushPayload(commit);
    const wrong: Record<string, string>[] = [
      {},
      { 'x-hub-signature-256': sign('not-the-secret', body) },
      { 'x-hub-signature-256': 'sha256=zz' },
      { 'x-hub-signature-256': sign(hook.secret, `${body} `) },
    ];
    for (const headers of wrong) {
      const res = await deliver(body, headers);
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.equal(((await res.json()) as { type: string }).type, 'urn:kiln:problem:unauthorized');
    }
    assert.deepEqual(await builds(), []);
    assert.equal(await kiln.api.buildQueue.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized'), 0);
  });

  it('a correctly signed push starts one build tagged with the commit id, once per commit', async () => {
    const body = pushPayload(commit);
    const res = await deliver(body, { 'x-hub-signature-256': sign(hook.secret, body), 'x-github-delivery': 'd-1' });
    assert.equal(res.status, 202, await res.clone().text());
    const started = (await res.json()) as { build: { id: string; imageRef: string } };
    assert.equal(started.build.imageRef, `${kiln.config.REGISTRY_HOST}/${kiln.config.REGISTRY_PREFIX}/${kiln.project}/team/app:${commit}`);

    const listed = await builds();
    assert.deepEqual(listed.map((b) => b.id), [started.build.id]);
    const build = (await (await call(kiln, `/v1/builds/${started.build.id}`)).json()) as { spec: { components: string[]; image: string; revision?: string; source?: string } };
    assert.deepEqual(build.spec.components, ['openssl']);
    assert.equal(build.spec.image, `team/app:${commit}`);
    // The image's OCI revision and source labels come from the push (core/image-labels.ts writes them from the spec).
    assert.equal(build.spec.revision, commit);
    assert.equal(build.spec.source, 'https://github.com/team/app');
    assert.equal(await kiln.api.buildQueue.getJobCountByTypes('waiting', 'active', 'delayed', 'prioritized'), 1);

    // GitHub redelivers: the same commit is the same build.
    const again = await deliver(body, { 'x-hub-signature-256': sign(hook.secret, body), 'x-github-delivery': 'd-2' });
    assert.equal(again.status, 202);
    assert.equal(((await again.json()) as typeof started).build.id, started.build.id);
    assert.equal((await builds()).length, 1);
  });

  it('uses `after` when there is no head_commit, answers ping, and ignores a deleted branch', async () => {
    const second = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const body = JSON.stringify({ ref: 'refs/heads/dev', after: second });
    const res = await deliver(body, { 'x-hub-signature-256': sign(hook.secret, body) });
    assert.equal(res.status, 202);
    assert.match(((await res.json()) as { build: { imageRef: string } }).build.imageRef, new RegExp(`:${second}$`));

    const ping = JSON.stringify({ zen: 'Keep it logically awesome.' });
    const pong = await fetch(hook.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': 'ping', 'x-hub-signature-256': sign(hook.secret, ping) }, body: ping });
    assert.equal(pong.status, 200);
    const deleted = JSON.stringify({ ref: 'refs/heads/old', after: '0'.repeat(40), head_commit: null });
    const none = await deliver(deleted, { 'x-hub-signature-256': sign(hook.secret, deleted) });
    assert.equal(none.status, 200);
    assert.equal((await builds()).length, 2);
  });

  it("checks a definition like a build, and another project's token cannot see or delete the webhook", async () => {
    const bad = await call(kiln, '/v1/webhooks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ definition: { components: ['nosuch'], uploadId: 'x', binaryPath: 'rel', entrypoint: ['a'], repository: 'Bad Repo' } }),
    });
    assert.equal(bad.status, 400);
    const fields = ((await bad.json()) as { problems: { field: string }[] }).problems.map((p) => p.field).sort();
    assert.deepEqual(fields, ['definition.binaryPath', 'definition.components[0]', 'definition.repository', 'definition.uploadId']);

    const admin = { url: kiln.url, token: kiln.adminToken };
    await call(admin, '/v1/projects', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'intruder' }) });
    const { token } = (await (await call(admin, '/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x', project: 'intruder' }) })).json()) as { token: string };
    const intruder = { url: kiln.url, token };
    assert.equal((await call(intruder, `/v1/webhooks/${hook.id}`)).status, 404);
    assert.equal((await call(intruder, `/v1/webhooks/${hook.id}`, { method: 'DELETE' })).status, 404);
    assert.equal((await call(kiln, `/v1/webhooks/${hook.id}`)).status, 200);
  });
});

describe("one project's webhooks cannot flood the queue everyone shares", () => {
  const LIMIT = 3;
  let kiln: TestKiln;
  let uploadId: string;
  const createHook = async (target: { url: string; token?: string }, definition: Record<string, unknown>) =>
    call(target, '/v1/webhooks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ definition: { uploadId, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], repository: 'team/app', ...definition } }),
    });
  const push = (hook: { url: string; secret: string }, id: string, signed = true) => {
    const body = pushPayload(id);
    return fetch(hook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', ...(signed ? { 'x-hub-signature-256': sign(hook.secret, body) } : {}) },
      body,
    });
  };
  before(async () => {
    kiln = await startTestKiln({ env: { KILN_BUILD_RATE_LIMIT: String(LIMIT) } });
    uploadId = (await upload(kiln, Buffer.from('#!/bin/sh\necho flood\n'), 'app.sh')).body.id;
  });
  after(() => kiln?.close());

  it('a definition may not ask for interactive priority; every webhook build queues as ci', async () => {
    const refused = await createHook(kiln, { priority: 'interactive' });
    assert.equal(refused.status, 400);
    assert.deepEqual(((await refused.json()) as { problems: { field: string }[] }).problems.map((p) => p.field), ['definition.priority']);
    const hook = (await (await createHook(kiln, { priority: 'ci' })).json()) as { url: string; secret: string; definition: { priority?: string } };
    assert.equal(hook.definition.priority, 'ci');
    const res = await push(hook, 'b'.repeat(40));
    assert.equal(res.status, 202);
    const { build } = (await res.json()) as { build: { id: string } };
    const job = await kiln.api.buildQueue.getJob(build.id);
    assert.equal(job?.opts.priority, JOB_PRIORITY.ci);
  });

  it("signed deliveries of all a project's webhooks share one rate limit; unsigned ones spend none of it; other projects are not held up", async () => {
    // A project of its own, so the minute's count starts with this test.
    const admin = { url: kiln.url, token: kiln.adminToken };
    await call(admin, '/v1/projects', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'flood' }) });
    const { token } = (await (await call(admin, '/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'f', project: 'flood' }) })).json()) as { token: string };
    const flood = { url: kiln.url, token };
    const theirUpload = (await upload(flood, Buffer.from('#!/bin/sh\necho flood\n'), 'app.sh')).body.id;
    const hooks = await Promise.all([0, 1].map(async () => (await createHook(flood, { uploadId: theirUpload })).json() as Promise<{ url: string; secret: string }>));
    for (let i = 0; i < 5; i++) assert.equal((await push(hooks[i % 2]!, `${i}`.repeat(40), false)).status, 401);
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < LIMIT + 2; i++) {
      const res = await push(hooks[i % 2]!, `c${i}`.padEnd(40, '0'));
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    assert.deepEqual(statuses, [...Array(LIMIT).fill(202), 429, 429]);
    assert.ok(limited);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    const problem = (await limited.json()) as { type: string; detail: string };
    assert.equal(problem.type, 'urn:kiln:problem:rate-limited');
    assert.match(problem.detail, /this project's webhooks may start at most 3 builds a minute/);
    assert.equal(((await (await call(flood, '/v1/builds')).json()) as { items: unknown[] }).items.length, LIMIT);

    // Another project's webhook still delivers meanwhile.
    const ours = (await (await createHook(kiln, {})).json()) as { url: string; secret: string };
    assert.equal((await push(ours, 'd'.repeat(40))).status, 202);
  });
});

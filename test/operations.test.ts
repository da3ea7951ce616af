// What operators use: /docs lists every route with its schemas, /metrics counts builds as they finish, /healthz, and
// /readyz names a dependency that stopped (here a Redis this test starts and stops itself — never the shared one).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startOwnRedis, type OwnRedis } from './helpers/own-redis.ts';
import { postBuild, upload, waitForBuild } from './helpers/api-client.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

type OpenApi = { paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, unknown>; security?: unknown[] }>>; components: { schemas: Record<string, unknown> } };

describe('OpenAPI document and metrics', () => {
  let kiln: TestKiln;
  before(async () => {
    kiln = await startTestKiln({ builder: true });
  });
  after(() => kiln?.close());

  it('/docs serves the UI, and its document lists every route with an operationId and responses', async () => {
    assert.equal((await fetch(`${kiln.url}/docs`)).status, 200);
    const doc = (await (await fetch(`${kiln.url}/docs/json`)).json()) as OpenApi;
    const routes = kiln.api.app.routeTable;
    assert.ok(routes.length >= 20, `${routes.length} routes`);
    for (const route of routes) {
      const path = route.url.replace(/:(\w+)/g, '{$1}');
      const op = doc.paths[path]?.[route.method.toLowerCase()];
      assert.ok(op, `${route.method} ${route.url} is in the document`);
      assert.equal(op.operationId, route.operationId);
      assert.ok(Object.keys(op.responses ?? {}).length > 0, `${route.operationId} has responses`);
    }
    const documented = Object.values(doc.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
    assert.equal(documented.length, routes.length, 'and nothing else');
    for (const id of ['createUpload', 'listUploads', 'getUpload', 'createBuild', 'listBuilds', 'getBuild', 'getBuildLogs', 'createProject', 'createToken', 'revokeToken', 'getCaller', 'createWebhook', 'deliverWebhook', 'getHealth', 'getReadiness', 'getMetrics', 'listComponents']) {
      assert.ok(documented.includes(id), `${id} documented`);
    }
    // Referenced schemas exist, and the public routes say so.
    for (const ref of JSON.stringify(doc).matchAll(/"#\/components\/schemas\/([^"]+)"/g)) assert.ok(doc.components.schemas[ref[1]!], `schema ${ref[1]}`);
    assert.deepEqual(doc.paths['/v1/webhooks/{id}/deliveries']!.post!.security, []);
    // Errors are documented with the media type they are sent with.
    const refused = doc.paths['/v1/builds']!.post!.responses!['400'] as { content: Record<string, unknown> };
    assert.deepEqual(Object.keys(refused.content), ['application/problem+json']);
    const sent = await fetch(`${kiln.url}/v1/builds`, { method: 'POST', headers: { authorization: `Bearer ${kiln.token}`, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(sent.status, 400);
    assert.match(sent.headers.get('content-type') ?? '', /^application\/problem\+json/);
  });

  it('/metrics counts a finished build and its duration', async () => {
    const metric = async (line: RegExp) => {
      const text = await (await fetch(`${kiln.url}/metrics`)).text();
      return Number(line.exec(text)?.[1] ?? NaN);
    };
    assert.equal(await metric(/^kiln_builds\{status="succeeded"\} (\d+)$/m), 0);
    assert.equal(await metric(/^kiln_build_duration_seconds_count\{status="succeeded"\} (\d+)$/m), NaN, 'no duration observed yet');

    const up = await upload(kiln, Buffer.from('#!/bin/sh\necho measured\n'));
    const res = await postBuild(kiln, { uploadId: up.body.id, binaryPath: '/usr/local/bin/m', entrypoint: ['/usr/local/bin/m'], image: 'metrics/app:1' });
    assert.equal(res.status, 202);
    const build = await waitForBuild(kiln, res.body.id);
    assert.equal(build.status, 'succeeded', build.error ?? '');

    const text = await (await fetch(`${kiln.url}/metrics`)).text();
    assert.match(text, /^kiln_builds\{status="succeeded"\} 1$/m);
    assert.match(text, /^kiln_build_duration_seconds_count\{status="succeeded"\} 1$/m);
    assert.match(text, /^kiln_build_duration_seconds_bucket\{le="\+Inf",status="succeeded"\} 1$/m);
    assert.match(text, /^kiln_queue_jobs\{state="waiting"\} 0$/m);
    assert.match(text, /^kiln_template_hits 0$/m);
    assert.match(text, /^kiln_template_seconds_saved 0$/m);
    // A second scrape does not count the same build again.
    assert.equal(await metric(/^kiln_build_duration_seconds_count\{status="succeeded"\} (\d+)$/m), 1);
  });
});

/** How many clients (other than the one asking) are connected to the Redis on `port`. */
async function clientCount(port: number): Promise<number> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await client.connect();
    return String(await client.client('LIST')).trim().split('\n').length - 1;
  } catch {
    return 0;
  } finally {
    client.disconnect();
  }
}

describe('readiness', () => {
  let kiln: TestKiln | undefined;
  let redis: OwnRedis | undefined;
  let connections = 0;
  after(async () => {
    // Bring our Redis back and wait until every connection kiln had is back (closing one that is still reconnecting
    // can hang in ioredis), so kiln can clean its keys up; then stop it for good.
    if (redis && !redis.running()) {
      await redis.start();
      for (let i = 0; i < 200 && (await clientCount(redis.port)) < connections; i++) await new Promise((r) => setTimeout(r, 100));
    }
    await kiln?.close();
    await redis?.close();
  });

  it('/healthz answers; /readyz is 200 with everything up and 503 naming Redis once it stops', async () => {
    redis = await startOwnRedis();
    kiln = await startTestKiln({ env: { REDIS_URL: redis.url } });

    assert.deepEqual(await (await fetch(`${kiln.url}/healthz`)).json(), { status: 'ok' });
    const ready = await fetch(`${kiln.url}/readyz`);
    const readyBody = (await ready.json()) as { status: string; down: string[]; checks: Record<string, { ok: boolean }> };
    assert.equal(ready.status, 200, JSON.stringify(readyBody));
    assert.deepEqual(Object.keys(readyBody.checks).sort(), ['database', 'redis', 'registry', 's3'], 'what the api uses: no engine');
    connections = await clientCount(redis.port);

    await redis.stop();
    const down = await fetch(`${kiln.url}/readyz`);
    const body = (await down.json()) as { status: string; detail: string; down: string[] };
    assert.equal(down.status, 503);
    assert.equal(body.status, 'not ready');
    assert.deepEqual(body.down, ['redis']);
    assert.match(body.detail, /^not reachable: redis \(/);
    assert.equal((await fetch(`${kiln.url}/healthz`)).status, 200, 'the process itself is still up');
  });
});

// Live log followers at scale: every follower in an api process shares one Redis connection (core/log-tail.ts), and
// each still gets exactly the log after its own position, whenever it joined — from the start, from a Last-Event-ID,
// or while the shared read was somewhere else entirely.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createBuildLog, type LogEvent } from '../core/build-log.ts';
import { call, followLog, postBuild, upload, type FollowedLog } from './helpers/api-client.ts';
import { removeSlowLayers, slowCatalog } from './helpers/catalogs.ts';
import { connectionsTo } from './helpers/sockets.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';
import { waitUntil } from './helpers/wait.ts';

const REDIS_PORT = Number(new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').port || 6379);

describe('many followers of one build', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  let dir: string;
  const nonce = randomBytes(4).toString('hex');
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-followers-'));
    kiln = await startTestKiln({ builder: true, env: { KILN_CATALOG_DIR: await slowCatalog(dir, { seconds: 6, nonce }) } });
  });
  after(async () => {
    if (kiln) await removeSlowLayers(kiln.infra.docker, nonce);
    await kiln?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a hundred followers cost Redis one connection, and each receives the whole log and the end', async () => {
    const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho followed-${nonce}\n`));
    const res = await postBuild(kiln, { uploadId: up.body.id, components: ['slow'], binaryPath: '/usr/local/bin/f', entrypoint: ['/usr/local/bin/f'], image: 'followed/app:1' });
    assert.equal(res.status, 202);
    const id = res.body.id as string;
    const before = await connectionsTo(process.pid, REDIS_PORT);
    let open = 0;
    const followers = Array.from({ length: 100 }, () => followLog(kiln, id, undefined, { onOpen: () => open++ }));
    await waitUntil(() => open === 100, 'all hundred followers have their event stream open', 30_000);
    const during = await connectionsTo(process.pid, REDIS_PORT);
    assert.ok(during - before <= 1, `Redis connections: ${before} before, ${during} with 100 followers`);
    const logs = await Promise.all(followers);
    const plain = await (await call(kiln, `/v1/builds/${id}/logs`)).text();
    assert.match(plain, /slow-line-6/);
    for (const log of logs) {
      assert.equal(log.end, 'succeeded');
      assert.equal(log.chunks.map((c) => c.text).join(''), plain);
    }
  });
});

describe('the shared tail of followed logs', () => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = `kiln-test-tail-${randomBytes(4).toString('hex')}`;
  const logs = createBuildLog({ redis, blobs: { putText: async () => undefined, getText: async () => undefined }, prefix });
  after(async () => {
    logs.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('followers that join at any point, from any position, each get exactly the entries after it, in order', async () => {
    const id = randomUUID();
    const out = logs.writer(id);
    const written: { id: string; text: string }[] = [];
    const followed: { from: string; events: LogEvent[]; done: Promise<void> }[] = [];
    const stop = new AbortController();
    const follow = (from: string) => {
      const entry = { from, events: [] as LogEvent[], done: Promise.resolve() };
      entry.done = (async () => {
        for await (const ev of logs.follow(id, { fromId: from, signal: stop.signal, ended: async () => undefined })) entry.events.push(ev);
      })();
      followed.push(entry);
    };
    follow('0');
    for (let i = 0; i < 300; i++) {
      out.append(`line ${i}\n`);
      await out.flush();
      const [newest] = (await redis.xrevrange(`${prefix}:build-log:${id}`, '+', '-', 'COUNT', 1)) as [string, string[]][];
      written.push({ id: newest![0], text: `line ${i}\n` });
      // Now and then a follower joins: from the start, or from an id already written (as after a reconnect).
      if (i % 15 === 7) follow('0');
      if (i % 15 === 11) follow(written[Math.floor(Math.random() * written.length)]!.id);
      if (i % 50 === 0) await sleep(20);
    }
    await redis.xadd(`${prefix}:build-log:${id}`, '*', 'end', 'succeeded');
    await Promise.race([Promise.all(followed.map((f) => f.done)), sleep(30_000).then(() => stop.abort())]);
    assert.equal(stop.signal.aborted, false, 'every follower reached the end');
    assert.ok(followed.length > 40);
    for (const f of followed) {
      const after = f.from === '0' ? written : written.slice(written.findIndex((w) => w.id === f.from) + 1);
      const texts = f.events.filter((e) => 'text' in e).map((e) => (e as { text: string }).text);
      assert.deepEqual(texts, after.map((w) => w.text), `follower from ${f.from}`);
      assert.equal((f.events.at(-1) as { end?: string }).end, 'succeeded');
    }
  });
});

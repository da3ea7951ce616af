// What the deployment test asks of a running stack, through its published api port as a user's client would: builds,
// uploads, what kiln lists, and how the api's /readyz went while something was restarted.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Build {
  id: string;
  status: string;
  imageRef: string;
  digest: string | null;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  plan: { base: { kind: string } };
}

export const ended = (status: string) => ['succeeded', 'failed', 'canceled'].includes(status);

export class StackClient {
  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  async call(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.url}${path}`, { ...init, headers: { authorization: `Bearer ${this.token}`, ...init.headers } });
  }

  async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const res = await this.call(path, init);
    const text = await res.text();
    assert.ok(res.ok, `${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /** Streams a file as the upload's body (as `curl --data-binary @file` does); returns the upload's id. */
  async uploadFile(file: string): Promise<string> {
    const body = Readable.toWeb(createReadStream(file)) as ReadableStream;
    const size = (await stat(file)).size;
    const init = { method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) } };
    return (await this.json<{ id: string }>('/v1/uploads?filename=app.sh', init as RequestInit)).id;
  }

  async postBuild(uploadId: string, image: string): Promise<string> {
    const spec = { root: 'debian-bookworm', components: ['openssl@3'], uploadId, binaryPath: '/usr/local/bin/hello', entrypoint: ['/usr/local/bin/hello'], image };
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) };
    return (await this.json<{ id: string }>('/v1/builds', init)).id;
  }

  build(id: string): Promise<Build> {
    return this.json<Build>(`/v1/builds/${id}`);
  }

  /** Long-polls until the build ends (kiln answers after at most 60 s each time). */
  async waitForBuild(id: string, timeoutMs = 600_000): Promise<Build> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const b = await this.json<Build>(`/v1/builds/${id}?wait=60`);
      if (ended(b.status)) return b;
      if (Date.now() > deadline) throw new Error(`build ${id} still ${b.status} after ${timeoutMs} ms`);
    }
  }

  async waitForStatus(id: string, status: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const b = await this.build(id);
      if (b.status === status) return;
      assert.ok(!ended(b.status), `build ${id} ended ${b.status} (${b.error ?? ''}) before it was seen ${status}`);
      if (Date.now() > deadline) throw new Error(`build ${id} not ${status} after ${timeoutMs} ms (${b.status})`);
      await sleep(100);
    }
  }

  async log(id: string): Promise<string> {
    const res = await this.call(`/v1/builds/${id}/logs`);
    assert.equal(res.status, 200);
    return res.text();
  }

  /** What kiln lists: builds, uploads, images, layers and verified combinations. */
  async inventory() {
    const [builds, uploads, images, layers, compositions] = await Promise.all([
      this.json<{ items: { id: string; status: string; digest: string | null }[] }>('/v1/builds?limit=200'),
      this.json<{ items: { id: string; sha256: string; size: number }[] }>('/v1/uploads?limit=200'),
      this.json<{ items: { id: string; imageRef: string; digest: string; status: string; repository: string; tag: string }[] }>('/v1/images?limit=200'),
      this.json<{ layers: { id: string; component: string; status: string; digest: string | null }[] }>('/v1/layers'),
      this.json<{ compositions: { key: string; status: string }[] }>('/v1/compositions'),
    ]);
    return { builds: builds.items, uploads: uploads.items, images: images.items, layers: layers.layers, compositions: compositions.compositions };
  }
}

export type Inventory = Awaited<ReturnType<StackClient['inventory']>>;

/** Everything `before` listed is still listed the same (an ended build, an upload, an image, a layer, a combination). */
export function assertNothingLost(before: Inventory, after: Inventory, what: string): void {
  const byId = <T extends { id: string }>(xs: T[]) => new Map(xs.map((x) => [x.id, x]));
  const builds = byId(after.builds);
  for (const b of before.builds.filter((x) => ended(x.status))) assert.deepEqual(builds.get(b.id), b, `${what}: build ${b.id}`);
  const uploads = byId(after.uploads);
  for (const u of before.uploads) assert.deepEqual(uploads.get(u.id), u, `${what}: upload ${u.id}`);
  const images = byId(after.images);
  for (const i of before.images) assert.deepEqual(images.get(i.id), i, `${what}: image ${i.imageRef}`);
  const layers = byId(after.layers);
  for (const l of before.layers.filter((x) => x.status === 'ready')) assert.deepEqual(layers.get(l.id), l, `${what}: layer ${l.component}`);
  const combos = new Map(after.compositions.map((c) => [c.key, c]));
  for (const c of before.compositions.filter((x) => x.status === 'verified')) assert.deepEqual(combos.get(c.key), c, `${what}: combination ${c.key}`);
}

export interface ReadinessSeen {
  /** How long `action` took (e.g. `compose restart`). */
  actionMs: number;
  /** From the action's start until the api's /readyz answered 200 again after it. */
  readyAgainMs: number;
  /** Total time /readyz was seen not answering 200 (polled every 100 ms). */
  notReadyMs: number;
  /** What /readyz named as down meanwhile ("api" when the api itself did not answer). */
  down: string[];
}

/** Runs `action` while polling the api's /readyz, and until it answers 200 again. */
export async function watchReadiness(apiUrl: string, action: () => Promise<unknown>, timeoutMs = 180_000): Promise<ReadinessSeen> {
  const t0 = Date.now();
  const down = new Set<string>();
  let notReadyMs = 0;
  let actionDone = false;
  let actionMs = 0;
  const acting = action().then(() => {
    actionMs = Date.now() - t0;
    actionDone = true;
  });
  let failure: unknown;
  acting.catch((err: unknown) => (failure = err));
  for (;;) {
    const probeAt = Date.now();
    let ok = false;
    try {
      const res = await fetch(`${apiUrl}/readyz`, { signal: AbortSignal.timeout(3000) });
      const body = (await res.json()) as { down?: string[] };
      ok = res.status === 200;
      for (const d of body.down ?? []) down.add(d);
    } catch {
      down.add('api');
    }
    if (failure) throw failure;
    if (!ok) notReadyMs += Date.now() - probeAt + 100;
    if (actionDone && ok) return { actionMs, readyAgainMs: Date.now() - t0, notReadyMs, down: [...down] };
    if (Date.now() - t0 > timeoutMs) throw new Error(`the api's /readyz did not answer 200 within ${timeoutMs} ms (down: ${[...down].join(', ')})`);
    await sleep(100);
  }
}

/** A script that prints one line and exits, followed by `bytes` of random bytes it never reads: a big binary that runs. */
export async function writeBigScript(file: string, bytes: number, line: string): Promise<void> {
  const out = createWriteStream(file, { mode: 0o755 });
  out.write(`#!/bin/sh\necho "${line}, $(openssl version | cut -d' ' -f1-2)"\nexit 0\n`);
  for (let left = bytes; left > 0; left -= 1 << 20) {
    if (!out.write(randomBytes(Math.min(left, 1 << 20)))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  out.end();
  await finished(out);
}

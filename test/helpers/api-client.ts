// Small HTTP helpers over kiln's REST API, used the way a CI job would use it: with a bearer token.
import { Readable } from 'node:stream';

export interface BuildView {
  id: string;
  status: string;
  imageRef: string;
  digest: string | null;
  error: string | null;
  attempts: number;
  plan: { components: { key: string; recipeHash: string }[] };
  steps: { component: string; seconds: number; cached: boolean; kind?: string | null }[];
}

/** Where to call and as whom: a TestKiln fits (its `token` is a token of its test project). */
export interface Target {
  url: string;
  token?: string;
}

export const authHeaders = (target: Target): Record<string, string> => (target.token ? { authorization: `Bearer ${target.token}` } : {});

/** fetch against the target, with its token. */
export function call(target: Target, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${target.url}${path}`, { ...init, headers: { ...authHeaders(target), ...(init.headers as Record<string, string> | undefined) } });
}

export async function upload(target: Target, body: Uint8Array, filename?: string) {
  const res = await call(target, `/v1/uploads${filename ? `?filename=${encodeURIComponent(filename)}` : ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Blob([new Uint8Array(body)]),
  });
  return { status: res.status, body: (await res.json()) as { id: string; sha256: string; size: number } & Record<string, unknown> };
}

/** Uploads a stream (never held whole), as `curl -T` would: chunked, with the query given (e.g. `?archive=tar`). */
export async function uploadStream(target: Target, body: Readable, query = '') {
  const res = await call(target, `/v1/uploads${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: Readable.toWeb(body) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  return { status: res.status, body: (await res.json()) as { id: string; sha256: string; size: number } & Record<string, unknown> };
}

export async function postBuild(target: Target, spec: unknown, headers: Record<string, string> = {}) {
  const res = await call(target, '/v1/builds', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(spec) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
}

export async function getBuild(target: Target, id: string): Promise<BuildView> {
  const res = await call(target, `/v1/builds/${id}`);
  if (!res.ok) throw new Error(`GET build ${id}: ${res.status} ${await res.text()}`);
  return (await res.json()) as BuildView;
}

/** Waits for the build to end with the api's long-poll (or fails the test when the deadline passes). */
export async function waitForBuild(target: Target, id: string, timeoutMs = 300_000): Promise<BuildView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await call(target, `/v1/builds/${id}?wait=20`);
    if (!res.ok) throw new Error(`GET build ${id}: ${res.status} ${await res.text()}`);
    const b = (await res.json()) as BuildView;
    if (['succeeded', 'failed', 'canceled'].includes(b.status)) return b;
    if (Date.now() > deadline) throw new Error(`build ${id} still ${b.status} after ${timeoutMs} ms`);
  }
}

export interface FollowedLog {
  /** Each `log` event's text, with the time it arrived. */
  chunks: { text: string; at: number }[];
  /** The `end` event's status (undefined if the stream closed without one). */
  end: string | undefined;
}

/** Follows a build's log as Server-Sent Events (as a browser or CLI would), until the `end` event. */
export async function followLog(target: Target, id: string, onText?: (text: string) => void, opts: { onOpen?: () => void } = {}): Promise<FollowedLog> {
  const { createParser } = await import('eventsource-parser');
  const res = await call(target, `/v1/builds/${id}/logs`, { headers: { accept: 'text/event-stream' } });
  if (!res.ok || !res.body) throw new Error(`GET logs of ${id}: ${res.status} ${await res.text()}`);
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) throw new Error(`not an event stream: ${res.headers.get('content-type')}`);
  opts.onOpen?.();
  const out: FollowedLog = { chunks: [], end: undefined };
  const parser = createParser({
    onEvent(ev) {
      if (ev.event === 'log') {
        const { text } = JSON.parse(ev.data) as { text: string };
        out.chunks.push({ text, at: Date.now() });
        onText?.(text);
      } else if (ev.event === 'end') out.end = (JSON.parse(ev.data) as { status: string }).status;
    },
  });
  const decoder = new TextDecoder();
  for await (const bytes of res.body) parser.feed(decoder.decode(bytes as Uint8Array, { stream: true }));
  return out;
}

/** Resolves when `predicate` holds for the text followed so far (the log of a running build). */
export function logUntil(target: Target, id: string, predicate: (text: string) => boolean): { reached: Promise<void>; done: Promise<FollowedLog> } {
  let seen = '';
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const reached = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  const done = followLog(target, id, (text) => {
    seen += text;
    if (predicate(seen)) resolve();
  });
  done.then(
    () => reject(new Error(`the log of ${id} ended before the awaited text:\n${seen.slice(-2000)}`)),
    (err: Error) => reject(err),
  );
  return { reached, done };
}

/** Asks `probe` until it answers (not undefined), or fails naming `what` once `timeoutMs` have passed. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 400): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

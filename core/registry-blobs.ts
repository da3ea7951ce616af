// Blob and manifest calls of the OCI distribution API, for images kiln writes itself (composition): check, mount from
// another repository, stream up (the digest is computed on the way), read, and put a manifest. Every request goes
// through the registry transport (core/registry-client.ts), which authenticates it for the scopes it names.
import { createHash } from 'node:crypto';
import type { RegistryScope, RegistryTransport } from './registry-client.ts';

export interface BlobRef {
  digest: string;
  size: number;
}

const pull = (repository: string): RegistryScope => ({ repository, actions: ['pull'] });
const push = (repository: string): RegistryScope => ({ repository, actions: ['pull', 'push'] });

export class BlobError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
    this.name = 'BlobError';
  }
}

/** How long a stopped upload waits for the registry to take the end of its body before the request is cut off. */
const STOP_GRACE_MS = 10_000;
/** How long canceling an upload session may take (a registry that hangs must not hold up the build's end). */
const CANCEL_TIMEOUT_MS = 15_000;

/**
 * The chunks of `body` until `signal` aborts or `body` fails: then the chunks end (the request carrying them completes,
 * and the registry answers with what it received) and `stopped()` tells why. A chunk awaited when the abort comes is
 * not waited for.
 */
export function stoppableBody(body: AsyncIterable<Buffer>, signal?: AbortSignal): { chunks: AsyncIterable<Buffer>; stopped: () => { reason: unknown } | undefined } {
  let stopped: { reason: unknown } | undefined;
  const ABORTED = Symbol('aborted');
  const next = (it: AsyncIterator<Buffer>): Promise<IteratorResult<Buffer> | typeof ABORTED> => {
    if (!signal) return it.next();
    if (signal.aborted) return Promise.resolve(ABORTED);
    return new Promise((resolve, reject) => {
      const onAbort = () => resolve(ABORTED);
      signal.addEventListener('abort', onAbort, { once: true });
      it.next().then(
        (r) => (signal.removeEventListener('abort', onAbort), resolve(r)),
        (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e)),
      );
    });
  };
  async function* chunks() {
    const it = body[Symbol.asyncIterator]();
    let ended = false;
    try {
      for (;;) {
        const r = await next(it);
        if (r === ABORTED) {
          stopped = { reason: signal!.reason };
          return;
        }
        if (r.done) return void (ended = true);
        yield r.value;
      }
    } catch (err) {
      ended = true;
      stopped = { reason: err };
    } finally {
      // A source left early (a stop, or the request cut off) is let go without waiting: a chunk it is still producing
      // may never come.
      if (!ended) void it.return?.()?.catch(() => undefined);
    }
  }
  return { chunks: chunks(), stopped: () => stopped };
}

export function createRegistryBlobs(transport: RegistryTransport) {
  const fail = async (what: string, res: Response): Promise<never> => {
    const body = (await res.text().catch(() => '')).slice(0, 300);
    throw new BlobError(`registry ${transport.host} answered ${res.status} ${what}${body ? `: ${body}` : ''}`, res.status);
  };
  /** A Location header as a path for the transport (the registry may answer with /v2/… or a whole URL). */
  const locationOf = (res: { status: number; headers: Headers }): string => {
    const loc = res.headers.get('location');
    if (!loc) throw new BlobError(`registry ${transport.host} started an upload without a Location`, res.status);
    return loc.startsWith('/v2/') ? loc.slice(3) : loc;
  };
  const withDigest = (location: string, digest: string) => `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;

  const startUpload = async (repository: string, signal?: AbortSignal): Promise<string> => {
    const res = await transport.request(`/${repository}/blobs/uploads/`, { method: 'POST', scopes: [push(repository)], ...(signal ? { signal } : {}) });
    if (res.status !== 202) await fail(`starting an upload to ${repository}`, res);
    return locationOf(res);
  };

  /** Cancels an upload session, best effort: the error that ended the upload is the one that counts. */
  const cancelUpload = async (repository: string, location: string): Promise<void> => {
    const res = await transport
      .request(location, { method: 'DELETE', scopes: [push(repository)], signal: AbortSignal.timeout(CANCEL_TIMEOUT_MS) })
      .catch(() => undefined);
    await res?.body?.cancel().catch(() => undefined);
  };

  const api = {
    async exists(repository: string, digest: string): Promise<boolean> {
      const res = await transport.request(`/${repository}/blobs/${digest}`, { method: 'HEAD', scopes: [pull(repository)] });
      if (res.status === 404) return false;
      if (!res.ok) await fail(`checking ${repository}@${digest}`, res);
      return true;
    },

    /** Makes `digest` present in `target`: already there, or mounted from one of `sources` (no bytes move). */
    async mount(target: string, digest: string, sources: readonly string[]): Promise<boolean> {
      if (await api.exists(target, digest)) return true;
      for (const from of sources) {
        const res = await transport.request(`/${target}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
          method: 'POST',
          scopes: [push(target), pull(from)],
        });
        if (res.status === 201) return true;
        // 202: the registry could not mount and opened an upload instead; close it and try the next source.
        if (res.status === 202) await transport.request(locationOf(res), { method: 'DELETE', scopes: [push(target)] }).catch(() => undefined);
        else await fail(`mounting ${digest} from ${from} into ${target}`, res);
      }
      return false;
    },

    /**
     * Uploads a stream as one blob; its digest and size are computed while it streams. An upload that does not complete
     * (stopped by `signal`, its stream failed, the registry refused it) has its session canceled, best effort; the
     * original error is what is thrown.
     */
    async upload(repository: string, body: AsyncIterable<Buffer>, signal?: AbortSignal): Promise<BlobRef> {
      const location = await startUpload(repository, signal);
      // The session's location as the registry last handed it out. Distribution signs the offset it has received into
      // the location (`_state`) and refuses every later request whose offset is stale, a DELETE included (2.8 then
      // keeps the session for good): a session can only be canceled with the location of the last answer.
      let current = location;
      const hash = createHash('sha256');
      let size = 0;
      const stream = stoppableBody(body, signal);
      async function* counted() {
        for await (const chunk of stream.chunks) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      }
      // A stop ends the body cleanly, so the registry answers with the offset it holds; a registry that does not take
      // the rest in time has the request cut off instead.
      const hard = new AbortController();
      const cutOff = () => setTimeout(() => hard.abort(signal?.reason), STOP_GRACE_MS).unref();
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => void (timer = cutOff());
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const patched = await transport.stream(location, {
          method: 'PATCH',
          headers: { 'content-type': 'application/octet-stream' },
          body: counted(),
          scopes: [push(repository)],
          signal: hard.signal,
        });
        if (patched.status === 202 && patched.headers.get('location')) current = locationOf(patched);
        const stopped = stream.stopped();
        if (stopped) throw stopped.reason;
        if (patched.status !== 202) throw new BlobError(`registry ${transport.host} answered ${patched.status} receiving a blob for ${repository}: ${patched.text.slice(0, 300)}`, patched.status);
        signal?.throwIfAborted();
        const digest = `sha256:${hash.digest('hex')}`;
        const done = await transport.request(withDigest(current, digest), { method: 'PUT', scopes: [push(repository)], ...(signal ? { signal } : {}) });
        if (done.status !== 201) await fail(`completing blob ${digest} in ${repository}`, done);
        return { digest, size };
      } catch (err) {
        await cancelUpload(repository, current);
        throw stream.stopped()?.reason ?? err;
      } finally {
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(timer);
      }
    },

    /** Uploads bytes already in memory (configs, small layers), unless the repository has them. */
    async put(repository: string, bytes: Buffer): Promise<BlobRef> {
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (await api.exists(repository, digest)) return { digest, size: bytes.length };
      const location = await startUpload(repository);
      const res = await transport.request(withDigest(location, digest), {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(bytes),
        scopes: [push(repository)],
      });
      if (res.status !== 201) {
        await cancelUpload(repository, location);
        await fail(`storing blob ${digest} in ${repository}`, res);
      }
      return { digest, size: bytes.length };
    },

    async get(repository: string, digest: string): Promise<Buffer> {
      const res = await transport.request(`/${repository}/blobs/${digest}`, { scopes: [pull(repository)] });
      if (!res.ok) await fail(`reading ${repository}@${digest}`, res);
      const bytes = Buffer.from(await res.arrayBuffer());
      if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest) throw new BlobError(`blob ${digest} of ${repository} does not match its digest`, 200);
      return bytes;
    },

    async manifest(repository: string, reference: string): Promise<{ digest: string; mediaType: string; body: Buffer } | undefined> {
      const res = await transport.request(`/${repository}/manifests/${reference}`, {
        headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
        scopes: [pull(repository)],
      });
      if (res.status === 404) return undefined;
      if (!res.ok) await fail(`reading manifest ${repository}:${reference}`, res);
      const body = Buffer.from(await res.arrayBuffer());
      return {
        digest: res.headers.get('docker-content-digest') ?? `sha256:${createHash('sha256').update(body).digest('hex')}`,
        mediaType: res.headers.get('content-type') ?? '',
        body,
      };
    },

    /** Puts a manifest under a tag (or by digest); returns its digest. */
    async putManifest(repository: string, reference: string, body: string, mediaType: string): Promise<string> {
      const bytes = Buffer.from(body, 'utf8');
      const res = await transport.request(`/${repository}/manifests/${reference}`, {
        method: 'PUT',
        headers: { 'content-type': mediaType },
        body: new Uint8Array(bytes),
        scopes: [push(repository)],
      });
      if (res.status !== 201) await fail(`storing manifest ${repository}:${reference}`, res);
      return res.headers.get('docker-content-digest') ?? `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    },
  };
  return api;
}

export type RegistryBlobs = ReturnType<typeof createRegistryBlobs>;

// The registry's HTTP API v2, for what the engine cannot do: read a tag's digest, list, delete a manifest, and (for
// composition) write blobs and manifests. Harbor and distribution both speak it; every request goes through one
// transport, which authenticates it (Basic auth today).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from './config.ts';

const manifestTypes = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

/** What a request needs to be allowed to do, per repository (the registry token spec's `scope`). */
export interface RegistryScope {
  /** `repository:<name>` access, or the registry's catalog (`registry:catalog:*`). */
  repository: string | { catalog: true };
  actions: ('pull' | 'push' | 'delete' | '*')[];
}

/**
 * One authorized request to the registry's /v2 API: every call kiln makes itself (reads, deletes, and the blob and
 * manifest writes of composition) goes through it, so authentication and TLS live in one place.
 */
export interface RegistryTransport {
  host: string;
  /** `path` starts after /v2 (e.g. `/kiln/x/manifests/1`) or is an absolute URL the registry handed out (Location). */
  request(path: string, init?: RequestInit & { scopes?: RegistryScope[] }): Promise<Response>;
  /**
   * A request whose body is a stream of any size (a blob upload), sent with backpressure: the body is read only as
   * fast as the socket drains. (fetch on Node 20 reads a streamed body ahead without limit.) Answers status, headers
   * and the text of the response.
   */
  stream(
    path: string,
    init: { method: string; headers?: Record<string, string>; body: AsyncIterable<Buffer>; scopes?: RegistryScope[]; signal?: AbortSignal },
  ): Promise<{ status: number; headers: Headers; text: string }>;
}

export interface RegistryClient {
  host: string;
  transport: RegistryTransport;
  /** The digest the registry serves for repository:tag, or undefined when there is no such manifest. */
  manifestDigest(repository: string, tag: string): Promise<string | undefined>;
  tags(repository: string): Promise<string[]>;
  repositories(): Promise<string[]>;
  /** Deletes a manifest by digest; true if it existed. */
  deleteManifest(repository: string, digest: string): Promise<boolean>;
  /** Answers at all (for readiness checks). */
  ping(): Promise<boolean>;
}

/** Credentials as the Docker engine takes them for a push or pull (X-Registry-Auth), for REGISTRY_HOST. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  serveraddress: string;
}

type RegistryConfig = Pick<Config, 'REGISTRY_HOST' | 'REGISTRY_INSECURE' | 'REGISTRY_USERNAME' | 'REGISTRY_PASSWORD'>;

/** The engine's credentials for kiln's registry, from config (made once, in core/infrastructure.ts). */
export function registryAuthFrom(config: RegistryConfig): RegistryAuth {
  return {
    serveraddress: config.REGISTRY_HOST,
    ...(config.REGISTRY_USERNAME ? { username: config.REGISTRY_USERNAME, password: config.REGISTRY_PASSWORD ?? '' } : {}),
  };
}

/** kiln's own client for its registry, from config (made once, in core/infrastructure.ts). */
export function registryClientFrom(config: RegistryConfig): RegistryClient {
  return createRegistryClient({
    host: config.REGISTRY_HOST,
    insecure: config.REGISTRY_INSECURE,
    ...(config.REGISTRY_USERNAME ? { username: config.REGISTRY_USERNAME, password: config.REGISTRY_PASSWORD ?? '' } : {}),
  });
}

type TransportOptions = { host: string; insecure: boolean; username?: string; password?: string };

export function createRegistryTransport(opts: TransportOptions): RegistryTransport {
  const base = `${opts.insecure ? 'http' : 'https'}://${opts.host}/v2`;
  const urlOf = (path: string) => (/^https?:\/\//.test(path) ? path : `${base}${path}`);
  /** The Authorization header for a request needing `scopes` (Basic today: the same for every scope). */
  const authFor = async (_scopes: RegistryScope[] | undefined): Promise<Record<string, string>> =>
    opts.username ? { authorization: `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}` } : {};
  return {
    host: opts.host,
    async request(path, init = {}) {
      const { scopes, ...rest } = init;
      return fetch(urlOf(path), { ...rest, headers: { ...(await authFor(scopes)), ...(rest.headers as Record<string, string>) } });
    },
    async stream(path, init) {
      const url = new URL(urlOf(path));
      const headers = { ...(await authFor(init.scopes)), ...init.headers };
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      return new Promise((resolve, reject) => {
        const req = send(url, { method: init.method, headers, ...(init.signal ? { signal: init.signal } : {}) }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c.length + text.length <= 64 * 1024 ? c : ''));
          res.on('end', () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
            resolve({ status: res.statusCode ?? 0, headers: h, text });
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        pipeline(Readable.from(init.body), req).catch(reject);
      });
    },
  };
}

export function createRegistryClient(opts: TransportOptions): RegistryClient {
  const transport = createRegistryTransport(opts);
  const repo = (repository: string, ...actions: RegistryScope['actions']) => ({ scopes: [{ repository, actions }] });
  const call = (path: string, init: RequestInit & { scopes?: RegistryScope[] } = {}) => transport.request(path, init);
  return {
    host: opts.host,
    transport,
    async manifestDigest(repository, tag) {
      const res = await call(`/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: manifestTypes }, ...repo(repository, 'pull') });
      if (res.status === 404) return undefined;
      if (!res.ok) throw new Error(`registry ${opts.host} answered ${res.status} for ${repository}:${tag}`);
      return res.headers.get('docker-content-digest') ?? undefined;
    },
    async tags(repository) {
      const res = await call(`/${repository}/tags/list`, repo(repository, 'pull'));
      if (res.status === 404) return [];
      if (!res.ok) throw new Error(`registry ${opts.host} answered ${res.status} listing tags of ${repository}`);
      return ((await res.json()) as { tags?: string[] | null }).tags ?? [];
    },
    async repositories() {
      // The registry pages its catalog (at most 1000 a page) and points to the next page in a Link header.
      const out: string[] = [];
      for (let path: string | undefined = '/_catalog?n=1000'; path; ) {
        const res = await call(path, { scopes: [{ repository: { catalog: true }, actions: ['*'] }] });
        if (!res.ok) throw new Error(`registry ${opts.host} answered ${res.status} listing repositories`);
        out.push(...(((await res.json()) as { repositories?: string[] }).repositories ?? []));
        path = /<\/v2(\/_catalog\?[^>]*)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
      }
      return out;
    },
    async deleteManifest(repository, digest) {
      const res = await call(`/${repository}/manifests/${digest}`, { method: 'DELETE', ...repo(repository, 'delete') });
      if (res.status === 404) return false;
      if (!res.ok) throw new Error(`registry ${opts.host} answered ${res.status} deleting ${repository}@${digest}`);
      return true;
    },
    async ping() {
      try {
        const res = await call('/');
        return res.status === 200 || res.status === 401;
      } catch {
        return false;
      }
    },
  };
}

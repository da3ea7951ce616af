// The registry's HTTP API v2, for what the engine cannot do: read a tag's digest, list, delete a manifest, and (for
// composition) write blobs and manifests. Harbor and distribution both speak it; every request goes through one
// transport (registry-transport.ts), which speaks HTTPS or configured plain HTTP and authenticates (Basic or tokens).
import type { Config } from './config.ts';
import type { RegistryScope } from './registry-auth.ts';
import { createRegistryTransport, RegistryError, refusal, type RegistryTransport, type TransportOptions } from './registry-transport.ts';

export type { RegistryScope } from './registry-auth.ts';
export { createRegistryTransport, RegistryError, type RegistryTransport } from './registry-transport.ts';

const manifestTypes = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

export interface RegistryClient {
  host: string;
  transport: RegistryTransport;
  /** The digest the registry serves for repository:tag, or undefined when there is no such manifest. */
  manifestDigest(repository: string, tag: string): Promise<string | undefined>;
  tags(repository: string): Promise<string[]>;
  repositories(): Promise<string[]>;
  /** Deletes a manifest by digest; true if it existed. Every tag pointing at that digest goes with it. */
  deleteManifest(repository: string, digest: string): Promise<boolean>;
  /** The tags of `repository` that point at `digest` now (what deleting that digest would take away). */
  tagsPointingAt(repository: string, digest: string): Promise<string[]>;
  /** Answers at all (a 401 counts); false when it cannot be reached or its token service refuses kiln. */
  ping(): Promise<boolean>;
  /** Answers and accepts kiln's credentials; throws a RegistryError naming the cause (for readiness). */
  check(): Promise<void>;
}

/** Credentials as the Docker engine takes them for a push or pull (X-Registry-Auth), for REGISTRY_HOST. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  serveraddress: string;
}

type RegistryConfig = Pick<Config, 'REGISTRY_HOST' | 'REGISTRY_PLAIN_HTTP_HOSTS' | 'REGISTRY_USERNAME' | 'REGISTRY_PASSWORD' | 'registryCa'>;

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
    plainHttpHosts: config.REGISTRY_PLAIN_HTTP_HOSTS,
    ...(config.registryCa ? { ca: config.registryCa } : {}),
    ...(config.REGISTRY_USERNAME ? { username: config.REGISTRY_USERNAME, password: config.REGISTRY_PASSWORD ?? '' } : {}),
  });
}

export function createRegistryClient(opts: TransportOptions): RegistryClient {
  const transport = createRegistryTransport(opts);
  const repo = (repository: string, ...actions: RegistryScope['actions']) => ({ scopes: [{ repository, actions }] });
  const call = (path: string, init: RequestInit & { scopes?: RegistryScope[] } = {}) => transport.request(path, init);
  const fail = async (res: Response, what: string) => {
    const { detail, hint } = await refusal(res, opts.username !== undefined ? { username: opts.username } : {});
    return new RegistryError(`registry ${opts.host} answered ${res.status} ${what}${detail ? ` (${detail})` : ''}${hint ? `: ${hint}` : ''}`);
  };

  const client: RegistryClient = {
    host: opts.host,
    transport,
    async manifestDigest(repository, tag) {
      const res = await call(`/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: manifestTypes }, ...repo(repository, 'pull') });
      if (res.status === 404) return undefined;
      if (!res.ok) throw await fail(res, `reading ${repository}:${tag}`);
      return res.headers.get('docker-content-digest') ?? undefined;
    },
    async tags(repository) {
      const out: string[] = [];
      // Tags are paged like the catalog (Harbor pages them; distribution may): follow the Link header.
      for (let path: string | undefined = `/${repository}/tags/list?n=1000`; path; ) {
        const res = await call(path, repo(repository, 'pull'));
        if (res.status === 404) return out;
        if (!res.ok) throw await fail(res, `listing tags of ${repository}`);
        out.push(...(((await res.json()) as { tags?: string[] | null }).tags ?? []));
        path = nextPage(res);
      }
      return out;
    },
    async repositories() {
      // The registry pages its catalog (at most 1000 a page) and points to the next page in a Link header.
      const out: string[] = [];
      for (let path: string | undefined = '/_catalog?n=1000'; path; ) {
        const res = await call(path, { scopes: [{ repository: { catalog: true }, actions: ['*'] }] });
        if (!res.ok) throw await fail(res, 'listing repositories');
        out.push(...(((await res.json()) as { repositories?: string[] }).repositories ?? []));
        path = nextPage(res);
      }
      return out;
    },
    async deleteManifest(repository, digest) {
      const res = await call(`/${repository}/manifests/${digest}`, { method: 'DELETE', ...repo(repository, 'delete') });
      if (res.status === 404) return false;
      if (!res.ok) throw await fail(res, `deleting ${repository}@${digest}`);
      return true;
    },
    async tagsPointingAt(repository, digest) {
      const found: string[] = [];
      for (const tag of await client.tags(repository)) if ((await client.manifestDigest(repository, tag)) === digest) found.push(tag);
      return found;
    },
    async ping() {
      try {
        const res = await call('/');
        return res.status === 200 || res.status === 401;
      } catch {
        return false;
      }
    },
    async check() {
      const res = await call('/');
      if (!res.ok) throw await fail(res, 'to GET /v2/');
    },
  };
  return client;
}

/** The next page a registry points to (`Link: </v2/…?last=x&n=1000>; rel="next"`), as a path after /v2. */
function nextPage(res: Response): string | undefined {
  return /<\/v2(\/[^>]*)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
}

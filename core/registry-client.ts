// The registry's HTTP API v2, for what the engine cannot do: read a tag's digest, list, delete a manifest.
// Harbor and distribution both speak it; credentials go as Basic auth.
import type { Config } from './config.ts';

const manifestTypes = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

export interface RegistryClient {
  host: string;
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

export function createRegistryClient(opts: { host: string; insecure: boolean; username?: string; password?: string }): RegistryClient {
  const base = `${opts.insecure ? 'http' : 'https'}://${opts.host}/v2`;
  const auth: Record<string, string> = opts.username
    ? { authorization: `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}` }
    : {};
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${base}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
    return res;
  };
  return {
    host: opts.host,
    async manifestDigest(repository, tag) {
      const res = await call(`/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: manifestTypes } });
      if (res.status === 404) return undefined;
      if (!res.ok) throw new Error(`registry ${opts.host} answered ${res.status} for ${repository}:${tag}`);
      return res.headers.get('docker-content-digest') ?? undefined;
    },
    async tags(repository) {
      const res = await call(`/${repository}/tags/list`);
      if (res.status === 404) return [];
      if (!res.ok) throw new Error(`registry ${opts.host} answered ${res.status} listing tags of ${repository}`);
      return ((await res.json()) as { tags?: string[] | null }).tags ?? [];
    },
    async repositories() {
      // The registry pages its catalog (at most 1000 a page) and points to the next page in a Link header.
      const out: string[] = [];
      for (let path: string | undefined = '/_catalog?n=1000'; path; ) {
        const res = await call(path);
        if (!res.ok) throw new Error(`registry ${opts.host} answered ${res.status} listing repositories`);
        out.push(...(((await res.json()) as { repositories?: string[] }).repositories ?? []));
        path = /<\/v2(\/_catalog\?[^>]*)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
      }
      return out;
    },
    async deleteManifest(repository, digest) {
      const res = await call(`/${repository}/manifests/${digest}`, { method: 'DELETE' });
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

// Test-side use of kiln's registry client: check a tag as a user would, and remove what a test pushed.
import type Docker from 'dockerode';
import { createRegistryClient, type RegistryClient } from '../../core/registry-client.ts';

/** A client of a registry tests reach without credentials over plain HTTP (the local one, scratch registries). */
export const plainClient = (registry: string) => createRegistryClient({ host: registry, plainHttpHosts: [registry] });

export const manifestDigest = (registry: string, repository: string, tag: string) => plainClient(registry).manifestDigest(repository, tag);
export const tagsOf = (registry: string, repository: string) => plainClient(registry).tags(repository);

/** Registry, repository path and tag of a build's image reference (registry/path:tag). */
export function repoAndTag(imageRef: string): { registry: string; repository: string; tag: string } {
  const slash = imageRef.indexOf('/');
  const colon = imageRef.lastIndexOf(':');
  return { registry: imageRef.slice(0, slash), repository: imageRef.slice(slash + 1, colon), tag: imageRef.slice(colon + 1) };
}

/**
 * Deletes every manifest under repositories starting with `prefix`, and the engine's local images of them. `registry`
 * is a host reached as the local one is, or a client that knows the registry's scheme and credentials.
 */
export async function deleteRepositories(docker: Docker, registry: string | RegistryClient, prefix: string): Promise<void> {
  const r = typeof registry === 'string' ? plainClient(registry) : registry;
  for (const repo of (await r.repositories()).filter((x) => x.startsWith(prefix))) {
    for (const tag of await r.tags(repo)) {
      const digest = await r.manifestDigest(repo, tag);
      if (digest) await r.deleteManifest(repo, digest);
    }
  }
  for (const image of await docker.listImages()) {
    for (const tag of image.RepoTags ?? []) {
      if (tag.startsWith(`${r.host}/${prefix}`)) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    }
  }
}

/** Points `toTag` at the manifest `fromTag` points at, as a person with registry access would (outside kiln). */
export async function tagManifest(client: RegistryClient, repository: string, fromTag: string, toTag: string): Promise<void> {
  const scopes = [{ repository, actions: ['pull' as const, 'push' as const] }];
  const accept = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';
  const got = await client.transport.request(`/${repository}/manifests/${fromTag}`, { headers: { accept }, scopes });
  if (!got.ok) throw new Error(`GET manifest ${repository}:${fromTag}: ${got.status}`);
  const type = got.headers.get('content-type') ?? 'application/vnd.docker.distribution.manifest.v2+json';
  const put = await client.transport.request(`/${repository}/manifests/${toTag}`, { method: 'PUT', headers: { 'content-type': type }, body: new Uint8Array(await got.arrayBuffer()), scopes });
  if (!put.ok) throw new Error(`PUT manifest ${repository}:${toTag}: ${put.status} ${await put.text()}`);
}

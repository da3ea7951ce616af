// Test-side use of kiln's registry client: check a tag as a user would, and remove what a test pushed.
import type Docker from 'dockerode';
import { createRegistryClient, type RegistryClient } from '../../core/registry-client.ts';

/** A client of a registry tests reach without credentials over plain HTTP (the local one, scratch registries). */
export const plainClient = (registry: string) => createRegistryClient({ host: registry, plainHttpHosts: [registry] });

export const manifestDigest = (registry: string, repository: string, tag: string) => plainClient(registry).manifestDigest(repository, tag);
export const tagsOf = (registry: string, repository: string) => plainClient(registry).tags(repository);

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

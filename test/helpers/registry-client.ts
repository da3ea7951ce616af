// Test-side use of kiln's registry client: check a tag as a user would, and remove what a test pushed.
import type Docker from 'dockerode';
import { createRegistryClient } from '../../core/registry-client.ts';

const client = (registry: string) => createRegistryClient({ host: registry, insecure: true });

export const manifestDigest = (registry: string, repository: string, tag: string) => client(registry).manifestDigest(repository, tag);

/** Registry, repository path and tag of a build's image reference (registry/path:tag). */
export function repoAndTag(imageRef: string): { registry: string; repository: string; tag: string } {
  const slash = imageRef.indexOf('/');
  const colon = imageRef.lastIndexOf(':');
  return { registry: imageRef.slice(0, slash), repository: imageRef.slice(slash + 1, colon), tag: imageRef.slice(colon + 1) };
}
export const tagsOf = (registry: string, repository: string) => client(registry).tags(repository);

/** Deletes every manifest under repositories starting with `prefix`, and the engine's local images of them. */
export async function deleteRepositories(docker: Docker, registry: string, prefix: string): Promise<void> {
  const r = client(registry);
  for (const repo of (await r.repositories()).filter((x) => x.startsWith(prefix))) {
    for (const tag of await r.tags(repo)) {
      const digest = await r.manifestDigest(repo, tag);
      if (digest) await r.deleteManifest(repo, digest);
    }
  }
  for (const image of await docker.listImages()) {
    for (const tag of image.RepoTags ?? []) {
      if (tag.startsWith(`${registry}/${prefix}`)) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    }
  }
}

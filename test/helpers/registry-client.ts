// Reads and cleans the registry through its HTTP API v2, as a user (or Harbor) would see it.
import type Docker from 'dockerode';

const manifestTypes = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

/** The digest the registry serves for repository:tag, or undefined when it has no such manifest. */
export async function manifestDigest(registry: string, repository: string, tag: string): Promise<string | undefined> {
  const res = await fetch(`http://${registry}/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: manifestTypes } });
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`registry answered ${res.status} for ${repository}:${tag}`);
  return res.headers.get('docker-content-digest') ?? undefined;
}

export async function tagsOf(registry: string, repository: string): Promise<string[]> {
  const res = await fetch(`http://${registry}/v2/${repository}/tags/list`);
  if (res.status === 404) return [];
  const body = (await res.json()) as { tags?: string[] | null };
  return body.tags ?? [];
}

/** Deletes every manifest under repositories starting with `prefix`, and the engine's local images of them. */
export async function deleteRepositories(docker: Docker, registry: string, prefix: string): Promise<void> {
  const res = await fetch(`http://${registry}/v2/_catalog?n=10000`);
  const { repositories = [] } = (await res.json()) as { repositories?: string[] };
  for (const repo of repositories.filter((r) => r.startsWith(prefix))) {
    for (const tag of await tagsOf(registry, repo)) {
      const digest = await manifestDigest(registry, repo, tag);
      if (digest) await fetch(`http://${registry}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
    }
  }
  const images = await docker.listImages({ filters: JSON.stringify({ reference: [`${registry}/${prefix}*`, `${registry}/${prefix}*/*`, `${registry}/${prefix}*/*/*`] }) });
  for (const image of images) {
    for (const tag of image.RepoTags ?? []) {
      if (tag.startsWith(`${registry}/${prefix}`)) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    }
  }
}

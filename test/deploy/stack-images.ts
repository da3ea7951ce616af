// The images around the deployment test: the stack's own (built under fixed tags, so a rerun replaces rather than
// adds), the "Docker Hub" the builder pulls its root from, and what the stack leaves on the host's engine.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { ImagePushOptions } from 'dockerode';
import { parse } from 'yaml';
import type { ComposeStack } from './compose-stack.ts';

const repo = path.resolve(import.meta.dirname, '../..');
/** The root kiln makes on this host (npm test's set-up): what `debian:bookworm-slim` stands for here. */
const HOST_ROOT = 'kiln-root:debian-bookworm';

async function imageId(docker: Docker, ref: string): Promise<string | undefined> {
  return docker.getImage(ref).inspect().then((i) => i.Id, () => undefined);
}

/**
 * Builds the stack's images (`build`) and removes each image a fixed tag pointed at before, when the build moved the
 * tag (else every change to kiln would leave a 330 MB image behind). Returns the build's seconds and each image's size.
 */
export async function builtImages(docker: Docker, build: () => Promise<unknown>): Promise<{ seconds: number; sizesMB: Record<string, number> }> {
  const override = parse(await readFile(path.join(repo, 'deploy/compose.local.yaml'), 'utf8')) as { services: Record<string, { image?: string }> };
  const tags = [...new Set(Object.values(override.services).flatMap((s) => (s.image ? [s.image] : [])))];
  const before = new Map(await Promise.all(tags.map(async (t) => [t, await imageId(docker, t)] as const)));
  const t0 = Date.now();
  await build();
  const seconds = Math.round((Date.now() - t0) / 100) / 10;
  const sizesMB: Record<string, number> = {};
  for (const t of tags) {
    const now = await docker.getImage(t).inspect();
    sizesMB[t] = Math.round(now.Size / 1e6);
    const old = before.get(t);
    // Refused (and left) while a container or another tag still uses it.
    if (old && old !== now.Id) await docker.getImage(old).remove().catch(() => undefined);
  }
  return { seconds, sizesMB };
}

async function pushed(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  const events: { error?: string }[] = await new Promise((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, evs: { error?: string }[]) => (err ? reject(err) : resolve(evs))),
  );
  const failed = events.find((e) => e.error);
  if (failed) throw new Error(failed.error);
}

/**
 * Puts this host's root into the stack's registry as `<mirror>/library/debian:bookworm-slim`, the name a pull-through
 * mirror of Docker Hub serves `debian:bookworm-slim` under. Returns the milliseconds it took.
 */
export async function seedMirror(docker: Docker, mirror: string): Promise<number> {
  const t0 = Date.now();
  const repository = `${mirror}/library/debian`;
  await docker.getImage(HOST_ROOT).tag({ repo: repository, tag: 'bookworm-slim' });
  try {
    const options = { tag: 'bookworm-slim', authconfig: { serveraddress: mirror.split('/')[0] } } as ImagePushOptions;
    await pushed(docker, await docker.getImage(repository).push(options));
  } finally {
    // Only the name goes: HOST_ROOT still holds the image.
    await docker.getImage(`${repository}:bookworm-slim`).remove().catch(() => undefined);
  }
  return Date.now() - t0;
}

/**
 * What the stack left on the host's engine (its containers, networks and volumes went with `down`): the names it gave
 * images — everything under its registry's address, and its root's name — and the images only those names held.
 * Images of the stack's builds that lost their names (kiln untags what it pushed) are found by the labels kiln puts
 * on them, which name the stack's registry.
 */
export async function removeStackLeftovers(docker: Docker, stack: ComposeStack): Promise<void> {
  const ours = (ref: string) => ref.startsWith(`${stack.registry}/`) || ref.startsWith(`${stack.rootPrefix}:`);
  for (const image of await docker.listImages({ all: false })) {
    const names = [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])].filter((n) => n !== '<none>:<none>' && n !== '<none>@<none>');
    const labels = Object.values(image.Labels ?? {});
    // Unnamed: kiln's labels name the stack's registry, or Compose's the stack's project (an image a rebuild replaced).
    const unnamedOurs = labels.some((v) => v.includes(`${stack.registry}/`)) || image.Labels?.['com.docker.compose.project'] === stack.project;
    const mine = names.length > 0 ? names.every(ours) : unnamedOurs;
    if (mine) {
      for (const tag of (image.RepoTags ?? []).filter(ours)) await docker.getImage(tag).remove().catch(() => undefined);
      await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
    } else {
      for (const tag of (image.RepoTags ?? []).filter(ours)) await docker.getImage(tag).remove().catch(() => undefined);
    }
  }
}

// What a build left on the engine, looked up the two ways an operator would: through the engine's API (images and
// containers by label, images by the layers they hold) and on the engine's disk (overlay2 layers by their content
// and diff id), since a layer can outlive every image the API lists.
import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';

const exists = (p: string) => access(p).then(() => true, () => false);

/** The engine's overlay2 storage, when the test runs on the engine's host (else the disk checks cannot run). */
export async function engineDisk(docker: Docker): Promise<{ overlay: string; layerdb: string } | undefined> {
  const info = (await docker.info()) as { DockerRootDir?: string; Driver?: string };
  if (info.Driver !== 'overlay2' || !info.DockerRootDir) return undefined;
  const disk = { overlay: path.join(info.DockerRootDir, 'overlay2'), layerdb: path.join(info.DockerRootDir, 'image/overlay2/layerdb/sha256') };
  return (await exists(disk.layerdb)) ? disk : undefined;
}

/** Diff ids of the engine's layers that hold `file` (an absolute path inside the image). */
export async function layersHolding(disk: { overlay: string; layerdb: string }, file: string): Promise<string[]> {
  const holding = new Set<string>();
  for (const dir of await readdir(disk.overlay)) if (await exists(path.join(disk.overlay, dir, 'diff', file))) holding.add(dir);
  const digests: string[] = [];
  for (const chain of await readdir(disk.layerdb)) {
    const cacheId = (await readFile(path.join(disk.layerdb, chain, 'cache-id'), 'utf8').catch(() => '')).trim();
    if (holding.has(cacheId)) digests.push((await readFile(path.join(disk.layerdb, chain, 'diff'), 'utf8')).trim());
  }
  return digests;
}

/** Whether any layer of the engine's store has this diff id. */
export async function layerStored(disk: { layerdb: string }, diffId: string): Promise<boolean> {
  for (const chain of await readdir(disk.layerdb)) {
    if ((await readFile(path.join(disk.layerdb, chain, 'diff'), 'utf8').catch(() => '')).trim() === diffId) return true;
  }
  return false;
}

/** Whether the engine is copying into `target` right now (a step's read-write layer is mounted with it). */
export async function copyingInto(disk: { overlay: string }, target: string): Promise<boolean> {
  for (const dir of await readdir(disk.overlay)) if (await exists(path.join(disk.overlay, dir, 'merged', target))) return true;
  return false;
}

/** Images (intermediate ones included) and containers of the engine labelled with this build's id. */
export async function labelled(docker: Docker, buildId: string): Promise<{ images: string[]; containers: string[] }> {
  const label = [`dev.kiln.build-id=${buildId}`];
  const [images, containers] = await Promise.all([docker.listImages({ all: true, filters: { label } }), docker.listContainers({ all: true, filters: { label } })]);
  return { images: images.map((i) => i.Id), containers: containers.map((c) => c.Id) };
}

/** Every image of the engine (intermediate ones included) that holds the layer `diffId`, or was made by a step naming `marker`. */
export async function imagesWith(docker: Docker, opts: { diffId?: string; marker?: string }): Promise<string[]> {
  const found: string[] = [];
  for (const img of await docker.listImages({ all: true })) {
    const info = await docker.getImage(img.Id).inspect().catch(() => undefined);
    if (!info) continue;
    const cmd = [...(info.ContainerConfig?.Cmd ?? []), ...(info.Config?.Cmd ?? [])].join(' ');
    if ((opts.diffId && info.RootFS?.Layers?.includes(opts.diffId)) || (opts.marker && cmd.includes(opts.marker))) found.push(img.Id);
  }
  return found;
}

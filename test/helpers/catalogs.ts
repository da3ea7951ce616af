// Catalogs for tests that need one the shipped catalog does not have.
import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';

/** The shipped catalog, in `<parent>/catalog`, plus a component `broken@1` whose install step cannot succeed. */
export async function brokenCatalog(parent: string): Promise<string> {
  const catalog = path.join(parent, 'catalog');
  await cp(path.resolve(import.meta.dirname, '../../base-images'), catalog, { recursive: true });
  await mkdir(path.join(catalog, 'components/broken'));
  await writeFile(path.join(catalog, 'components/broken/component.yaml'), 'name: broken\ndescription: cannot install\nrank: 99\ndefault: "1"\n');
  await writeFile(
    path.join(catalog, 'components/broken/1.yaml'),
    'name: broken\nversion: "1"\nroots: [debian-bookworm]\ninstall: {packages: [kiln-no-such-package]}\nsmoke: "false"\ncostEstimateSeconds: 1\n',
  );
  return catalog;
}

/**
 * The shipped catalog plus `slow` (version `1-<nonce>`): an install step that prints `slow-line-1..seconds`, one a second. The nonce
 * goes into the recipe, so no earlier run's layer cache can answer the step: it really runs, for `seconds`.
 */
export async function slowCatalog(parent: string, opts: { seconds: number; nonce: string; megabytes?: number; costEstimateSeconds?: number; colours?: boolean }): Promise<string> {
  const catalog = path.join(parent, 'catalog');
  await cp(path.resolve(import.meta.dirname, '../../base-images'), catalog, { recursive: true });
  await mkdir(path.join(catalog, 'components/slow'));
  // The nonce is in the version too: the install script's path (and so every step container's command) names it.
  const version = `1-${opts.nonce}`.slice(0, 40);
  await writeFile(path.join(catalog, 'components/slow/component.yaml'), `name: slow\ndescription: takes its time\nrank: 99\ndefault: "${version}"\n`);
  // `megabytes` of random data make the step's layer (and so the push) that large and slow to compress.
  const data = opts.megabytes ? `head -c ${opts.megabytes}M /dev/urandom > /slow-data\n` : '';
  // `colours`: the step also prints what a terminal program does (colours, a window title, a line erase) around text.
  const colours = opts.colours ? `printf '\\033[1;31mslow-red\\033[0m plain\\033]0;a title\\007\\033[2K end\\n'\n` : '';
  const script = `echo slow-start-${opts.nonce}\n${colours}for i in $(seq 1 ${opts.seconds}); do echo slow-line-$i; sleep 1; done\n${data}touch /slow-done\n`;
  await writeFile(
    path.join(catalog, `components/slow/${version}.yaml`),
    `name: slow\nversion: "${version}"\nroots: [debian-bookworm]\ninstall:\n  script: ${JSON.stringify(script)}\nsmoke: "test -f /slow-done"\ncostEstimateSeconds: ${opts.costEstimateSeconds ?? opts.seconds}\n`,
  );
  return catalog;
}

/**
 * Removes the engine's images built from `slowCatalog`s with these nonces — its steps' layers, and any image built on
 * them — newest first. They can never serve another build (the nonce is in the recipe), so a test removes them.
 */
export async function removeSlowLayers(docker: Docker, ...nonces: string[]): Promise<void> {
  await removeImagesMarked(docker, nonces.map((n) => `slow-1-${n}`));
}

/** Removes the engine's images whose step command holds one of `markers`, and every image built on them. */
export async function removeImagesMarked(docker: Docker, markers: string[]): Promise<void> {
  const images = (await docker.listImages({ all: true })).sort((a, b) => b.Created - a.Created);
  const marked = new Set<string>();
  for (const img of images) {
    const info = await docker.getImage(img.Id).inspect().catch(() => undefined);
    const cmd = [...(info?.ContainerConfig?.Cmd ?? []), ...(info?.Config?.Cmd ?? [])].join(' ');
    if (markers.some((m) => cmd.includes(m))) marked.add(img.Id);
  }
  // And everything standing on them (a canceled or failed build's own steps).
  for (let grew = true; grew; ) {
    grew = false;
    for (const img of images) {
      if (!marked.has(img.Id) && img.ParentId && marked.has(img.ParentId)) {
        marked.add(img.Id);
        grew = true;
      }
    }
  }
  // Children before parents: a pass removes the images nothing stands on any more, until a pass removes nothing.
  for (let left = [...marked]; left.length > 0; ) {
    const failed: string[] = [];
    for (const id of left) await docker.getImage(id).remove({ force: true, noprune: true }).catch(() => failed.push(id));
    if (failed.length === left.length) break;
    left = failed;
  }
}

/**
 * The shipped roots plus one component per family, each with the given versions and install cost — no installable
 * recipe: for tests that only analyze history (a synthetic installation's), never build.
 */
export async function syntheticCatalog(parent: string, families: Record<string, { versions: string[]; seconds: number }>): Promise<string> {
  const catalog = path.join(parent, 'catalog');
  await cp(path.resolve(import.meta.dirname, '../../base-images/roots'), path.join(catalog, 'roots'), { recursive: true });
  let rank = 10;
  for (const [name, f] of Object.entries(families)) {
    const dir = path.join(catalog, 'components', name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'component.yaml'), `name: ${name}\ndescription: synthetic\nrank: ${(rank += 10)}\ndefault: "${f.versions[0]}"\n`);
    for (const v of f.versions) {
      await writeFile(
        path.join(dir, `${v}.yaml`),
        `name: ${name}\nversion: "${v}"\nroots: [debian-bookworm]\ninstall: {packages: [kiln-synthetic-${name}]}\nsmoke: "true"\ncostEstimateSeconds: ${f.seconds}\n`,
      );
    }
  }
  return catalog;
}

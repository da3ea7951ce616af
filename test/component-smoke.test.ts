// Proves every catalog version installs and works: for each version (on each root it supports) an image is built the
// way kiln builds one, with a satisfying version of everything it requires, and every component's smoke script must
// exit 0 inside it. Then components meant to be combined are built together and smoke-tested again. A component
// whose recipe removes packages again (its build tools) is checked for what it left: see assertCleanedUp.
//
// Needs the Docker engine on /var/run/docker.sock and the root images (`npm test` or `npm run services` makes them).
// Slow on a first run (CUDA alone is a 1.6 GB download and 5.6 GB image); every image it builds is removed at the end.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import Docker from 'dockerode';
import { rootImageName } from '../core/build-planner.ts';
import { loadCatalog } from '../core/catalog/catalog-loader.ts';
import { compareVersions, satisfies, type Catalog, type ComponentVersion } from '../core/catalog/catalog.ts';
import { resolveComponents } from '../core/catalog/component-resolver.ts';
import { imageExists } from '../stack/root-image.ts';
import { buildComponentImage, removeImages, ROOT_IMAGE_PREFIX, runSmoke, smokeImageTag } from './helpers/component-image.ts';
import { buildTools, installedFrom, leftovers, removalsFrom, removesPackages } from './helpers/recipe-cleanup.ts';

const catalog = await loadCatalog(path.resolve(import.meta.dirname, '../base-images'));
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const built = new Set<string>();
const BUILD_TIMEOUT_MS = 40 * 60_000;

/**
 * `v` plus, for every component it (transitively) requires, that component's default version when it satisfies the
 * range, else its highest version that does. Returns request strings, as a user would type them.
 */
function requestFor(cat: Catalog, v: ComponentVersion): string[] {
  const chosen = new Map<string, ComponentVersion>([[v.name, v]]);
  const queue = [v];
  for (let cur = queue.shift(); cur; cur = queue.shift()) {
    for (const req of cur.requires) {
      const have = chosen.get(req.component);
      if (have) {
        assert.ok(satisfies(have.version, req.versions), `${cur.key} requires ${req.component} ${req.versions}, but ${have.key} was chosen`);
        continue;
      }
      const comp = cat.components.get(req.component)!;
      const fits = [...comp.versions.values()].filter((x) => satisfies(x.version, req.versions));
      const pick = fits.find((x) => x.version === comp.default) ?? fits.sort((a, b) => compareVersions(b.version, a.version))[0];
      assert.ok(pick, `no version of ${req.component} satisfies "${req.versions}" (required by ${cur.key})`);
      chosen.set(pick.name, pick);
      queue.push(pick);
    }
  }
  return [...chosen.values()].map((x) => x.key);
}

/** Resolves `request` with kiln's resolver, builds the image, runs the smoke script of every component in it. */
async function buildAndSmoke(t: TestContext, root: string, request: string[], label: string): Promise<ComponentVersion[]> {
  const { components, problems } = resolveComponents(catalog, root, request);
  assert.deepEqual(problems, [], `request ${request.join(' ')} does not resolve`);
  const tag = smokeImageTag(label);
  built.add(tag);
  const image = await buildComponentImage(docker, root, components, tag);
  const steps = image.steps.map((s) => `${s.owner} ${s.seconds.toFixed(1)} s${s.cached ? ' (cached)' : ''}`).join(', ');
  t.diagnostic(`${tag}: built in ${image.seconds.toFixed(1)} s: ${steps}`);
  for (const c of components) {
    const t0 = Date.now();
    const r = await runSmoke(docker, image.tag, c.smoke);
    assert.equal(r.code, 0, `smoke test of ${c.key} failed (exit ${r.code}) in ${tag} (${components.map((x) => x.key).join(', ')}):\n${r.output}`);
    t.diagnostic(`${c.key} smoke ok in ${((Date.now() - t0) / 1000).toFixed(1)} s${r.output.trim() ? `: ${r.output.trim().split('\n').at(-1)}` : ''}`);
  }
  await assertCleanedUp(t, root, components, image.tag);
  return components;
}

/** The packages dpkg reports installed in `image`. */
async function installedPackages(image: string): Promise<Set<string>> {
  const r = await runSmoke(docker, image, "dpkg-query -W -f '${Package} ${Status}\\n'");
  assert.equal(r.code, 0, `dpkg-query failed in ${image}:\n${r.output}`);
  return installedFrom(r.output);
}

/**
 * For each component whose recipe removes packages again: the image right after it holds none of its build tools
 * (`apt-get install --mark-auto`) that were not there before it, nothing it added that no installed package needs
 * (apt's suggestions aside: a tool kept only because, say, apt suggests dpkg-dev is still a leftover), and everything
 * the image held before it (an earlier component's packages, the root's). "Before" and "after" are the images of the
 * components up to it: their layers are the prefix of `image`'s, so the engine has them cached.
 */
async function assertCleanedUp(t: TestContext, root: string, components: ComponentVersion[], image: string): Promise<void> {
  for (const [i, c] of components.entries()) {
    if (!('script' in c.install) || !removesPackages(c.install.script)) continue;
    const prefix = async (n: number): Promise<string> => {
      if (n === 0) return rootImageName(ROOT_IMAGE_PREFIX, root);
      if (n === components.length) return image;
      const tag = smokeImageTag(`prefix-${components.slice(0, n).map((x) => `${x.name}-${x.version}`).join('-')}`);
      built.add(tag);
      return (await buildComponentImage(docker, root, components.slice(0, n), tag)).tag;
    };
    const [beforeImage, afterImage] = [await prefix(i), await prefix(i + 1)];
    const before = await installedPackages(beforeImage);
    const after = await installedPackages(afterImage);
    const sim = await runSmoke(docker, afterImage, 'apt-get -s autoremove -o APT::AutoRemove::SuggestsImportant=false');
    assert.equal(sim.code, 0, `apt-get -s autoremove failed in ${afterImage}:\n${sim.output}`);
    const r = leftovers(buildTools(c.install.script), before, after, removalsFrom(sim.output));
    const added = [...after].filter((p) => !before.has(p)).sort();
    t.diagnostic(`${c.key} added ${added.length} packages: ${added.join(' ')}`);
    assert.deepEqual(r.toolsLeft, [], `${c.key} says it removes its build tools, yet these stay in its image`);
    assert.deepEqual(r.unneeded, [], `${c.key} leaves packages behind that nothing in its image needs`);
    assert.deepEqual(r.removed, [], `${c.key} removed packages the image held before it`);
  }
}

before(async () => {
  await docker.ping();
  for (const root of catalog.roots.keys()) {
    const image = rootImageName(ROOT_IMAGE_PREFIX, root);
    assert.ok(await imageExists(docker, image), `root image ${image} is missing: start the local stack first (npm run services)`);
  }
});

after(async () => {
  // Only the tags go. The layers below are kiln's layer cache: the same recipes make the same layers, so the next run
  // (and every build of these components meanwhile) reuses them instead of installing again, and they do not pile up.
  const failed = await removeImages(docker, built, { noprune: true });
  assert.deepEqual(failed, [], 'could not remove every image this test built');
});

describe('every catalog version installs and passes its smoke test', () => {
  for (const comp of catalog.components.values()) {
    for (const v of comp.versions.values()) {
      for (const root of v.roots) {
        const request = requestFor(catalog, v);
        const extra = request.length > 1 ? ` (with ${request.filter((k) => k !== v.key).join(', ')})` : '';
        it(`${v.key} on ${root}${extra}`, { timeout: BUILD_TIMEOUT_MS }, async (t) => {
          await buildAndSmoke(t, root, request, `${v.name}-${v.version}`);
        });
      }
    }
  }
});

describe('build tools are removed again', () => {
  it('openssl@1.1 (compiled from source) leaves no compiler, make, perl or dpkg-dev beyond the root', { timeout: BUILD_TIMEOUT_MS }, async (t) => {
    const root = 'debian-bookworm';
    const { components, problems } = resolveComponents(catalog, root, ['openssl@1.1']);
    assert.deepEqual(problems, []);
    const tag = smokeImageTag('openssl-1.1-tools');
    built.add(tag);
    await buildComponentImage(docker, root, components, tag);
    const rootPackages = await installedPackages(rootImageName(ROOT_IMAGE_PREFIX, root));
    const added = [...(await installedPackages(tag))].filter((p) => !rootPackages.has(p)).sort();
    t.diagnostic(`beyond the root: ${added.join(' ')}`);
    const tools = added.filter((p) => /^(gcc|g\+\+|cpp)(-\d+)?$|^(make|perl|dpkg-dev|libc6-dev|binutils)$|^(libgcc|libperl|perl-modules)-/.test(p));
    assert.deepEqual(tools, [], 'build tools left in the openssl@1.1 image');
    // Nor their downloaded archives: the root holds none, so any .deb here is one this layer carries.
    const debs = await runSmoke(docker, tag, 'find /var/cache/apt -name "*.deb"');
    assert.equal(debs.code, 0, debs.output);
    assert.deepEqual(debs.output.split('\n').filter(Boolean), [], 'downloaded packages left in the openssl@1.1 image');
  });
});

describe('components work together', () => {
  it('jdk + openssl + gcc (defaults) in one image', { timeout: BUILD_TIMEOUT_MS }, async (t) => {
    const components = await buildAndSmoke(t, 'debian-bookworm', ['jdk', 'openssl', 'gcc'], 'combo-gcc-jdk-openssl');
    assert.deepEqual(components.map((c) => c.name), ['gcc', 'jdk', 'openssl'], 'canonical order');
  });

  it('gcc@11 + openssl@1.1: the build tools openssl removes again leave gcc 11 alone, and programs link 1.1', { timeout: BUILD_TIMEOUT_MS }, async (t) => {
    await buildAndSmoke(t, 'debian-bookworm', ['openssl@1.1', 'gcc@11'], 'combo-gcc11-openssl11');
  });
});

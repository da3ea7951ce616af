// Proves every catalog version installs and works: for each version (on each root it supports) an image is built the
// way kiln builds one, with a satisfying version of everything it requires, and every component's smoke script must
// exit 0 inside it. Then components meant to be combined are built together and smoke-tested again.
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
  return components;
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

describe('components work together', () => {
  it('jdk + openssl + gcc (defaults) in one image', { timeout: BUILD_TIMEOUT_MS }, async (t) => {
    const components = await buildAndSmoke(t, 'debian-bookworm', ['jdk', 'openssl', 'gcc'], 'combo-gcc-jdk-openssl');
    assert.deepEqual(components.map((c) => c.name), ['gcc', 'jdk', 'openssl'], 'canonical order');
  });

  it('gcc@11 + openssl@1.1: the build tools openssl removes again leave gcc 11 alone, and programs link 1.1', { timeout: BUILD_TIMEOUT_MS }, async (t) => {
    await buildAndSmoke(t, 'debian-bookworm', ['openssl@1.1', 'gcc@11'], 'combo-gcc11-openssl11');
  });
});

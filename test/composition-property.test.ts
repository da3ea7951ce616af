// Property: for catalog combinations picked at random (seeded; the seed is printed, KILN_COMPOSE_SEED repeats a run),
// the image kiln composes from prebuilt layers is as good as the one it installs: every component's smoke test passes
// in both, dpkg lists the same packages at the same versions, and apt's manual marks (so what autoremove would take),
// the alternatives, the diversions, the accounts and the environment are the same.
// `npm test` runs the quick form: 2 combinations, always one with gcc@11's diversions and jdk 11 from the older suite
// (each combination is an installed and a composed build: about 50 s of a 2-core machine).
// `npm run test:composition` (KILN_COMPOSE_FULL=1) runs the full form: 12, always covering cuda on each gcc and
// openssl 1.1 built from source too — about 35 minutes on a loaded machine (CUDA's layers are 5.6 GB), too long for
// every run of the suite.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { loadCatalog } from '../core/catalog/catalog-loader.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import { resolveComponents } from '../core/catalog/component-resolver.ts';
import { BUILD_QUEUE, LAYERS_JOB, layersJobOptions, type LayersJob } from '../core/queues.ts';
import { call, postBuild, upload, waitForBuild, type BuildView } from './helpers/api-client.ts';
import { buildComponentImage, removeImages, runSmoke, smokeImageTag } from './helpers/component-image.ts';
import { runContainer } from './helpers/docker-run.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const ROOT = 'debian-bookworm';
const catalog = await loadCatalog(path.resolve(import.meta.dirname, '../base-images'));

/** A small seeded generator (mulberry32): the same seed picks the same combinations. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every combination the catalog accepts: at most one version of each component, at least one component. */
function combinations(cat: Catalog): string[][] {
  let out: string[][] = [[]];
  for (const c of cat.components.values()) {
    const next: string[][] = [];
    for (const partial of out) {
      next.push(partial);
      for (const v of c.versions.values()) if (v.roots.includes(ROOT)) next.push([...partial, v.key]);
    }
    out = next;
  }
  return out.filter((keys) => keys.length > 0 && resolveComponents(cat, ROOT, keys).problems.length === 0);
}

/**
 * `count` combinations. Full: one of cuda on each gcc, one with openssl 1.1, one with jdk 11 (gcc@11 comes with its
 * cuda); quick: one with gcc@11 and jdk 11. Then random others without cuda and openssl 1.1: cuda's layers are 5.6 GB
 * and openssl 1.1 compiles for minutes on every new install prefix, and one of each per gcc is what proves they compose.
 */
function pick(all: string[][], count: number, full: boolean, rnd: () => number): string[][] {
  const has = (keys: string[], k: string) => keys.includes(k);
  const chosen: string[][] = [];
  const take = (pool: string[][]) => {
    const left = pool.filter((c) => !chosen.some((x) => x.join() === c.join()));
    if (left.length > 0) chosen.push(left[Math.floor(rnd() * left.length)]!);
  };
  const noCuda = all.filter((c) => !has(c, 'cuda@11.8'));
  const light = noCuda.filter((c) => !has(c, 'openssl@1.1'));
  if (full) {
    take(all.filter((c) => has(c, 'cuda@11.8') && has(c, 'gcc@11')));
    take(all.filter((c) => has(c, 'cuda@11.8') && has(c, 'gcc@12')));
    take(noCuda.filter((c) => has(c, 'openssl@1.1')));
    take(light.filter((c) => has(c, 'jdk@11')));
  } else {
    take(light.filter((c) => has(c, 'jdk@11') && has(c, 'gcc@11')));
  }
  while (chosen.length < count) take(light);
  return chosen;
}

const packages = async (kiln: TestKiln, image: string) => {
  const r = await runContainer(kiln.infra.docker, image, { Entrypoint: ['dpkg-query'], Cmd: ['-W', '-f', '${binary:Package} ${Version} ${db:Status-Abbrev}\\n'] });
  assert.equal(r.code, 0, r.output);
  return r.output.trim().split('\n').map((l) => l.trim()).sort();
};

/**
 * What tools tell of an image beyond its package list: apt's manual marks (and so what autoremove would take), the
 * alternatives, the diversions, the accounts, the environment. Each section sorted; HOSTNAME is the container's own.
 */
const FACTS = [
  "echo '## apt-mark showmanual'; apt-mark showmanual | sort",
  "echo '## autoremove (RecommendsImportant=false)'; apt-get -s -o APT::AutoRemove::RecommendsImportant=false autoremove | grep '^Remv ' | sort",
  "echo '## update-alternatives --get-selections'; update-alternatives --get-selections | sort",
  "echo '## dpkg-divert --list'; dpkg-divert --list | sort",
  "echo '## getent passwd'; getent passwd | sort",
  "echo '## getent group'; getent group | sort",
  "echo '## env'; env | grep -v '^HOSTNAME=' | sort",
].join('; ');

const facts = async (kiln: TestKiln, image: string) => {
  const r = await runContainer(kiln.infra.docker, image, { Entrypoint: ['/bin/sh', '-c'], Cmd: [FACTS] });
  assert.equal(r.code, 0, r.output);
  // One entry per section, so that a difference names its tool.
  return Object.fromEntries(r.output.trim().split(/^## /m).filter(Boolean).map((section) => [section.split('\n')[0]!, section.split('\n').slice(1).map((l) => l.trim()).filter(Boolean)]));
};

describe('composed images match installed ones', { timeout: 3_600_000 }, () => {
  const seed = Number(process.env.KILN_COMPOSE_SEED ?? randomInt(1, 2 ** 31));
  const full = process.env.KILN_COMPOSE_FULL === '1';
  const combos = pick(combinations(catalog), full ? 12 : 2, full, random(seed));
  let kiln: TestKiln;
  const localImages = new Set<string>();

  before(async () => {
    kiln = await startTestKiln({ builder: true, env: { KILN_BUILD_CONCURRENCY: '2', KILN_COMPOSITION: 'true' } });
  });
  after(async () => {
    await removeImages(kiln.infra.docker, localImages, { noprune: true });
    await kiln?.close();
  });

  it(`composes ${combos.length} random combinations (seed ${seed}${full ? ', full' : ''}) that pass the same checks as installed ones`, async (t) => {
    t.diagnostic(`seed ${seed} (KILN_COMPOSE_SEED=${seed} repeats it): ${combos.map((c) => c.join('+')).join(' | ')}`);
    // The layers of every combination, and its verification, as the analyzer would ask for them ahead of demand.
    const queue = new Queue<LayersJob>(BUILD_QUEUE, { connection: kiln.infra.redis('producer'), prefix: kiln.config.KILN_QUEUE_PREFIX });
    for (const components of combos) {
      const job: LayersJob = { root: ROOT, components, verify: true };
      await queue.add(LAYERS_JOB, job, layersJobOptions(job, { attempts: 1, backoffSeconds: 1 }));
    }
    await queue.close();

    const keyOf = (keys: string[]) => resolveComponents(catalog, ROOT, keys).components.map((v) => v.key).join('+');
    const deadline = Date.now() + 50 * 60_000;
    let verdicts: { components: string[]; status: string; error: string | null; conflicts: string[] | null }[] = [];
    for (;;) {
      verdicts = ((await (await call(kiln, '/v1/compositions')).json()) as { compositions: typeof verdicts }).compositions;
      const layers = ((await (await call(kiln, '/v1/layers?status=failed')).json()) as { layers: { component: string; error: string }[] }).layers;
      assert.deepEqual(layers, [], 'no layer fails to build');
      const done = combos.filter((c) => verdicts.some((v) => v.components.join('+') === keyOf(c) && v.status !== 'verifying'));
      if (done.length === combos.length) break;
      assert.ok(Date.now() < deadline, `verified ${done.length} of ${combos.length} in time`);
      await sleep(2000);
    }
    for (const c of combos) {
      const v = verdicts.find((x) => x.components.join('+') === keyOf(c))!;
      assert.equal(v.status, 'verified', `${keyOf(c)}: ${v.error} ${JSON.stringify(v.conflicts)}`);
    }

    for (const keys of combos) {
      const versions = resolveComponents(catalog, ROOT, keys).components;
      const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho composed ${keys.join(' ')}\n`));
      const res = await postBuild(kiln, { components: keys, uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image: `prop/app:${versions.map((v) => v.key.replace(/[@.]/g, '-')).join('-')}` });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const build = (await waitForBuild(kiln, res.body.id)) as BuildView & { plan: { base: { kind: string } } };
      assert.equal(build.status, 'succeeded', build.error ?? '');
      assert.equal(build.plan.base.kind, 'composed', `${keyOf(keys)} was not composed`);
      localImages.add(build.imageRef);

      const installed = await buildComponentImage(kiln.infra.docker, ROOT, versions, smokeImageTag('composition-property'));
      localImages.add(installed.tag);
      for (const v of versions) {
        for (const [which, image] of [['composed', build.imageRef], ['installed', installed.tag]] as const) {
          const r = await runSmoke(kiln.infra.docker, image, v.smoke);
          assert.equal(r.code, 0, `${v.key} smoke failed in the ${which} image of ${keyOf(keys)}:\n${r.output}`);
        }
      }
      assert.deepEqual(await packages(kiln, build.imageRef), await packages(kiln, installed.tag), `dpkg lists differ for ${keyOf(keys)}`);
      assert.deepEqual(await facts(kiln, build.imageRef), await facts(kiln, installed.tag), `composed and installed differ for ${keyOf(keys)}`);
      const run = await runContainer(kiln.infra.docker, build.imageRef, {});
      assert.equal(run.output.trim(), `composed ${keys.join(' ')}`);
      t.diagnostic(`${keyOf(keys)}: composed and installed images agree`);
      // CUDA images are large: free the engine of this combination's images before the next one.
      await removeImages(kiln.infra.docker, [build.imageRef, installed.tag], { noprune: true });
    }
  });
});

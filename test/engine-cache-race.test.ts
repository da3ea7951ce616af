// Many builds of one binary with one component, on two builder processes sharing one engine, on a loaded machine: every
// build succeeds. The engine's cache lookup at a step lists every child of the step's parent image and then loads each;
// a child removed in between fails that build with `unable to find image "sha256:…"` (CI, issue 22). Each build's
// cleanup removes the images of its own steps, so those must never be children of the image the others look up at
// (the component's): they stand on a lane step (builder/engine-lanes.ts) that no build removes. The window is widened
// as a busy engine widens it: the component's image has other children with large configs (a lookup then takes a
// while to load them all). The race itself shows only on a machine busy enough: with lanes switched off, this file
// passed twice on a quiet machine (also with two CPU burners beside it, which then cost the rest of the suite 300 CPU
// seconds for nothing, so they went). What fails without lanes every time is the check after the builds: the
// component's image has lane steps among its children, kept by the engine, and no child a build removed.
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildContext } from '../builder/build-context.ts';
import { buildImage } from '../builder/docker-engine.ts';
import { ENGINE_LANE_ARG } from '../builder/dockerfile-render.ts';
import { postBuild, upload, waitForBuild } from './helpers/api-client.ts';
import { spawnBuilder, stopChild } from './helpers/builder-process.ts';
import { removeSlowLayers, slowCatalog } from './helpers/catalogs.ts';
import { runImage } from './helpers/docker-run.ts';
import { labelled } from './helpers/engine-layers.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const BUILDS = 16;
/** Other children of the component's image, each with a config of about FILLER_KB KB. */
const FILLERS = 8;
const FILLER_KB = 2000;

/** The image the component's install step left (the parent of every build's own steps): named by the step's nonce. */
async function componentImage(kiln: TestKiln, nonce: string): Promise<string> {
  for (const img of await kiln.infra.docker.listImages({ all: true })) {
    const info = await kiln.infra.docker.getImage(img.Id).inspect().catch(() => undefined);
    if ((info?.ContainerConfig?.Cmd ?? []).join(' ').includes(`slow-1-${nonce}`)) return img.Id;
  }
  throw new Error(`no image of the slow-1-${nonce} step`);
}

/** A child of `parent` whose config holds `kb` KB of labels: loading it takes the engine's cache lookup a while. */
async function buildFiller(kiln: TestKiln, parent: string, tag: string, kb: number): Promise<void> {
  const labels = Array.from({ length: kb }, (_, k) => `    f${k}="${'x'.repeat(1000)}"`).join(' \\\n');
  const dockerfile = `FROM ${parent}\nLABEL kiln-test-filler="${tag}" \\\n${labels}\n`;
  let error: string | undefined;
  await buildImage(kiln.infra.docker, buildContext({ dockerfile, instructions: [] }), { tag, labels: {} }, (ev) => {
    if (ev.error || ev.errorDetail) error ??= ev.errorDetail?.message ?? ev.error;
  });
  if (error) throw new Error(`filler ${tag}: ${error}`);
}

describe('builds whose cleanup runs while other builds look up the same cache', { timeout: 1_200_000 }, () => {
  let kiln: TestKiln;
  let dir: string;
  const nonce = randomBytes(4).toString('hex');
  const children: ChildProcess[] = [];
  const fillers: string[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-cache-race-'));
    // The component's step runs at once; its nonce makes its image this test's own, so nothing else on the engine
    // looks up at it or removes its children. PostgreSQL: the second builder process reads the same builds.
    kiln = await startTestKiln({ db: 'postgres', builder: true, env: { KILN_CATALOG_DIR: await slowCatalog(dir, { seconds: 0, nonce, costEstimateSeconds: 1 }), KILN_BUILD_CONCURRENCY: '4' } });
  });
  after(async () => {
    for (const c of children) await stopChild(c);
    if (kiln) {
      for (const tag of fillers) await kiln.infra.docker.getImage(tag).remove({ noprune: true }).catch(() => undefined);
      await removeSlowLayers(kiln.infra.docker, nonce);
    }
    await kiln?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`${BUILDS} builds of one binary on two builder processes: every one succeeds, runs, and leaves nothing of its own`, async () => {
    const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho hello-${nonce}\n`), 'hello');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const spec = (i: number) => ({ uploadId: up.body.id, components: ['slow'], binaryPath: '/usr/local/bin/hello', entrypoint: ['/usr/local/bin/hello'], image: `race:${i}` });
    const start = async (i: number) => {
      const res = await postBuild(kiln, spec(i));
      assert.equal(res.status, 202, JSON.stringify(res.body));
      return res.body.id as string;
    };

    // The component's image first, then its other children.
    const first = await waitForBuild(kiln, await start(0), 300_000);
    assert.equal(first.status, 'succeeded', first.error ?? '');
    const parent = await componentImage(kiln, nonce);
    await Promise.all(
      Array.from({ length: FILLERS }, async (_, i) => {
        const tag = `kiln-test-filler:${nonce}-${i}`;
        fillers.push(tag);
        await buildFiller(kiln, parent, tag, FILLER_KB);
      }),
    );

    children.push(spawnBuilder(kiln, { KILN_BUILD_CONCURRENCY: '4' }));
    const ids: string[] = [];
    for (let i = 1; i <= BUILDS; i++) ids.push(await start(i));
    const builds = await Promise.all(ids.map((id) => waitForBuild(kiln, id, 900_000)));

    const failed = builds.filter((b) => b.status !== 'succeeded');
    assert.deepEqual(failed.map((b) => `${b.id}: ${b.status}: ${b.error}`), [], `${failed.length} of ${BUILDS} builds did not succeed`);
    for (const b of builds) assert.deepEqual(await labelled(kiln.infra.docker, b.id), { images: [], containers: [] }, `build ${b.id} left its images`);
    const run = await runImage(kiln.infra.docker, builds.at(-1)!.imageRef, []);
    assert.equal(run.output.trim(), `hello-${nonce}`);

    // Every child of the component's image still on the engine is a filler or a lane step: the builds' own steps
    // stood on lane steps (two builder processes, up to four lanes each), so none of them was the component's child.
    const kids = (await kiln.infra.docker.listImages({ all: true })).filter((img) => img.ParentId === parent);
    const lanes: string[] = [];
    for (const kid of kids) {
      if (fillers.some((tag) => (kid.RepoTags ?? []).includes(tag))) continue;
      const cmd = ((await kiln.infra.docker.getImage(kid.Id).inspect()).ContainerConfig?.Cmd ?? []).join(' ');
      assert.match(cmd, new RegExp(`ARG ${ENGINE_LANE_ARG}=`), `a child of the component's image that is no lane step: ${kid.Id} ${cmd}`);
      lanes.push(kid.Id);
    }
    assert.ok(lanes.length >= 1 && lanes.length <= 8, `lane steps under the component's image: ${lanes.length}`);
  });
});

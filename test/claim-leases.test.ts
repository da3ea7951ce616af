// A builder that dies holding a claim blocks its work for one lease (about a minute), not for a job timeout: builder
// processes are SIGKILLed while verifying a new combination, and while building a component layer; a builder started
// afterwards takes the lapsed claim over and the work ends — the same build succeeds, composed, and its image runs.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { rootRepository } from '../builder/docker-engine.ts';
import { call, logUntil, postBuild, upload, waitFor, waitForBuild, type BuildView } from './helpers/api-client.ts';
import { spawnBuilder, stopChild } from './helpers/builder-process.ts';
import { runImage } from './helpers/docker-run.ts';
import { removeImagesMarked } from './helpers/catalogs.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

/** What a user is promised: a build whose builder was killed mid-verification succeeds this soon after a restart. */
const PROMISE_MS = 120_000;
/**
 * How soon after the restart the new builder holds the dead builder's claim: the lease (60 s from the last renewal)
 * and BullMQ's stalled-job check (lock 30 s, checked every 30 s) run at once from the kill, plus the builder's start;
 * what follows is the work itself (on a loaded machine a 10 s layer build can take a minute and more).
 */
const TAKEOVER_MS = 100_000;
/** Long enough for a build blocked for hours (as before leases) to end the test, failing. */
const DEADLINE_MS = 180_000;
/** The same for the layer case, where the layer build itself comes on top (slow on a loaded machine). */
const LAYER_DEADLINE_MS = 240_000;

type Composed = BuildView & { plan: { base: { kind: string; verifiedNow?: boolean } }; finishedAt: string };

/**
 * The shipped catalog (for its roots) plus three components of this run (the nonce is in their versions, so no earlier
 * run's layer cache answers them): `lease-a`, quick; `lease-c`, whose smoke test takes 12 s (a verification
 * long enough to be killed in); `lease-b`, whose install takes 10 s (a layer build long enough to be killed in).
 */
async function leaseCatalog(parent: string, nonce: string): Promise<string> {
  const catalog = path.join(parent, 'catalog');
  await cp(path.resolve(import.meta.dirname, '../base-images'), catalog, { recursive: true });
  const component = async (name: string, rank: number, install: string, smoke: string) => {
    const version = `1-${nonce}`;
    await mkdir(path.join(catalog, 'components', name));
    await writeFile(path.join(catalog, 'components', name, 'component.yaml'), `name: ${name}\ndescription: test component\nrank: ${rank}\ndefault: "${version}"\n`);
    await writeFile(
      path.join(catalog, 'components', name, `${version}.yaml`),
      `name: ${name}\nversion: "${version}"\nroots: [debian-bookworm]\ninstall:\n  script: ${JSON.stringify(install)}\nsmoke: ${JSON.stringify(smoke)}\ncostEstimateSeconds: 60\n`,
    );
  };
  await component('lease-a', 93, `mkdir -p /opt/lease && echo a-${nonce} > /opt/lease/a.txt\n`, 'test -f /opt/lease/a.txt');
  await component('lease-c', 94, `mkdir -p /opt/lease && echo c-${nonce} > /opt/lease/c.txt\n`, 'sleep 12; test -f /opt/lease/c.txt');
  await component('lease-b', 95, `for i in $(seq 1 10); do echo lease-b-line-$i; sleep 1; done\nmkdir -p /opt/lease && echo b-${nonce} > /opt/lease/b.txt\n`, 'test -f /opt/lease/b.txt');
  return catalog;
}

/** Removes what the engine keeps of this run: step images of its components, containers a killed builder left. */
async function removeRunLeftovers(docker: Docker, nonce: string, kilnId: string): Promise<void> {
  for (const c of await docker.listContainers({ all: true })) {
    if (c.Command.includes(nonce) || c.Image.includes(`kiln-test/${kilnId}/`)) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
  await removeImagesMarked(docker, [nonce]);
}

describe('claims are leases: a builder killed holding one blocks nothing for long', { timeout: 1_200_000 }, () => {
  let kiln: TestKiln;
  let dir: string;
  const children: ChildProcess[] = [];
  const nonce = randomBytes(4).toString('hex');
  const version = `1-${nonce}`;
  const composing = { KILN_COMPOSITION: 'true', KILN_BUILD_CONCURRENCY: '2' };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-lease-'));
    // Builder processes share the database: PostgreSQL.
    kiln = await startTestKiln({ db: 'postgres', builder: false, env: { ...composing, KILN_CATALOG_DIR: await leaseCatalog(dir, nonce) } });
  });
  after(async () => {
    for (const c of children) await stopChild(c);
    if (kiln) await removeRunLeftovers(kiln.infra.docker, nonce, kiln.id);
    await kiln?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const builder = () => {
    const child = spawnBuilder(kiln, composing, { logs: true });
    children.push(child);
    return child;
  };
  const rootPublished = () =>
    waitFor('the root published', () => kiln.infra.registry.manifestDigest(rootRepository(kiln.config.REGISTRY_PREFIX, 'debian-bookworm'), 'current'), 120_000);

  const submit = async (components: string[], tag: string) => {
    const script = `#!/bin/sh\necho "leased ${tag}: $(cat /opt/lease/*.txt | tr '\\n' ' ')"\n`;
    const up = await upload(kiln, Buffer.from(script), 'app');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const res = await postBuild(kiln, { components, uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image: `lease/app:${tag}` });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id as string;
  };
  const layerStatus = async (component: string) => {
    const layers = ((await (await call(kiln, '/v1/layers')).json()) as { layers: { component: string; status: string; error: string | null }[] }).layers;
    const l = layers.find((x) => x.component === component);
    assert.notEqual(l?.status, 'failed', l?.error ?? '');
    return l?.status;
  };
  const compositionsList = async () =>
    ((await (await call(kiln, '/v1/compositions')).json()) as {
      compositions: { components: string[]; status: string; error: string | null; verifySeconds: number | null; verifiedAt: string | null }[];
    }).compositions;
  const compositionStatus = async (components: string[]) => {
    const list = await compositionsList();
    const c = list.find((x) => x.components.join('+') === components.join('+'));
    assert.ok(!c || c.status === 'verifying' || c.status === 'verified', JSON.stringify(c));
    return c?.status;
  };
  const verified = (components: string[], timeoutMs: number) =>
    waitFor(`${components.join(' + ')} verified`, async () => ((await compositionStatus(components)) === 'verified' ? true : undefined), timeoutMs, 500);

  const assertComposedAndRuns = async (build: Composed, expect: RegExp) => {
    assert.equal(build.status, 'succeeded', build.error ?? '');
    assert.equal(build.plan.base.kind, 'composed', JSON.stringify(build.plan.base));
    const run = await runImage(kiln.infra.docker, build.imageRef);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output.trim(), expect);
  };

  it('SIGKILL while a build verifies its new combination: after a restart the same build succeeds, composed, within 2 minutes', async () => {
    const a = builder();
    await rootPublished();
    // The layers of lease-a and lease-c (each built and verified alone by the layers job its first build queues).
    const firsts = await Promise.all([submit([`lease-a@${version}`], 'a-1'), submit([`lease-c@${version}`], 'c-1')]);
    for (const id of firsts) assert.equal((await waitForBuild(kiln, id, 300_000)).status, 'succeeded');
    await verified([`lease-a@${version}`], 300_000);
    await verified([`lease-c@${version}`], 300_000);

    // Both layers exist, their combination is new: this build verifies it — and its builder dies in the checks.
    const combination = [`lease-a@${version}`, `lease-c@${version}`];
    const id = await submit(combination, 'ac-1');
    await logUntil(kiln, id, (t) => /kiln: pulling \S+ to run the checks/.test(t)).reached;
    a.kill('SIGKILL');
    await new Promise((r) => a.once('exit', r));
    assert.equal(await compositionStatus(combination), 'verifying', 'the dead builder left its claim');

    const b = builder();
    const restartedAt = Date.now();
    const build = (await waitForBuild(kiln, id, DEADLINE_MS)) as Composed;
    const tookMs = Date.parse(build.finishedAt) - restartedAt;
    const c = (await compositionsList()).find((x) => x.components.join('+') === combination.join('+'))!;
    // When the new builder took the lapsed claim over: its verification started then.
    const takenOverMs = Date.parse(c.verifiedAt!) - c.verifySeconds! * 1000 - restartedAt;
    console.log(
      `# SIGKILL mid-verification: claim taken over ${(takenOverMs / 1000).toFixed(1)} s, verified in ${c.verifySeconds!.toFixed(1)} s, ` +
        `build ${build.status} (composed) ${(tookMs / 1000).toFixed(1)} s after the restart`,
    );
    await assertComposedAndRuns(build, new RegExp(`^leased ac-1: a-${nonce} c-${nonce}\\s*$`));
    assert.equal(c.status, 'verified');
    assert.ok(takenOverMs < TAKEOVER_MS, `claim taken over ${takenOverMs} ms after the restart`);
    const log = await (await call(kiln, `/v1/builds/${id}/logs`)).text();
    const runners = [...log.matchAll(/kiln: attempt \d+ on builder \S+:(\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(runners, [a.pid, b.pid], `started on the killed builder, finished on the new one:\n${log}`);
    assert.equal((log.match(/kiln: verifying the combination/g) ?? []).length, 2, `verified again by the new builder:\n${log}`);
    assert.ok(tookMs < PROMISE_MS, `succeeded ${tookMs} ms after the restart (promised: within ${PROMISE_MS} ms)`);
  });

  it('SIGKILL while a component layer is built: the new builder takes the claim over within a lease, finishes the layer, and the next build of it is composed', async () => {
    // The builder of the previous test is alive: stop it, so the one killed here is the only one building.
    for (const c of children.splice(0)) await stopChild(c);
    const a = builder();
    await rootPublished();
    const component = `lease-b@${version}`;
    // The first build installs (10 s) and queues the layer; with two job slots the layer's build runs beside it.
    const first = await submit([component], 'b-1');
    await waitFor('the layer of lease-b being built', async () => ((await layerStatus(component)) === 'building' ? true : undefined), 120_000, 250);
    await waitFor(
      'its install step running',
      async () => ((await kiln.infra.docker.listContainers()).some((c) => c.Command.includes(`kiln-lease-b-${version}`)) ? true : undefined),
      120_000,
      250,
    );
    a.kill('SIGKILL');
    await new Promise((r) => a.once('exit', r));
    assert.equal(await layerStatus(component), 'building', 'the dead builder left its claim');

    builder();
    const restartedAt = Date.now();
    await waitFor('the layer of lease-b ready', async () => ((await layerStatus(component)) === 'ready' ? true : undefined), LAYER_DEADLINE_MS, 500);
    const layerMs = Date.now() - restartedAt;
    const layers = ((await (await call(kiln, '/v1/layers')).json()) as { layers: { component: string; buildSeconds: number; readyAt: string }[] }).layers;
    const built = layers.find((l) => l.component === component)!;
    // When the new builder took the lapsed claim over: its build of the layer started then.
    const takenOverMs = Date.parse(built.readyAt) - built.buildSeconds * 1000 - restartedAt;
    await verified([component], LAYER_DEADLINE_MS);
    const verifiedMs = Date.now() - restartedAt;
    const next = (await waitForBuild(kiln, await submit([component], 'b-2'), DEADLINE_MS)) as Composed;
    const tookMs = Date.parse(next.finishedAt) - restartedAt;
    console.log(
      `# SIGKILL mid-layer-build: claim taken over ${(takenOverMs / 1000).toFixed(1)} s, layer built in ${built.buildSeconds.toFixed(1)} s, ready ${(layerMs / 1000).toFixed(1)} s, combination verified ${(verifiedMs / 1000).toFixed(1)} s, ` +
        `next build ${next.status} (composed) ${(tookMs / 1000).toFixed(1)} s after the restart`,
    );
    await assertComposedAndRuns(next, new RegExp(`^leased b-2: b-${nonce}\\s*$`));
    assert.ok(takenOverMs < TAKEOVER_MS, `claim taken over ${takenOverMs} ms after the restart`);
    // The build the killed builder was running (installing) was retried too, and succeeded.
    assert.equal((await waitForBuild(kiln, first, DEADLINE_MS)).status, 'succeeded');
  });
});

// `npm run test:deploy`: the production stack — compose.yaml, with deploy/compose.local.yaml because this host can
// pull no image — built, started with Compose v2 and used. Its images are built (kiln's FROM the root kiln makes,
// Node 22 from npm), every healthcheck passes, the builder brings the root onto its engine itself (pulled through a
// mirror: the test plays Docker Hub), the README example runs through it once installed and once composed, each
// service is restarted once (and the builder killed mid-build) without losing a build, an upload or an image, and
// everything is taken down. The figures (time to healthy, what each restart did) are printed and written to
// test/artifacts/deploy.json.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadStackConfig } from '../../core/config.ts';
import { dockerClient } from '../../core/infrastructure.ts';
import { ensureEngineTree } from '../../stack/engine-tree.ts';
import { stackStateDir } from '../../stack/local-stack.ts';
import { pull, runImage } from '../helpers/docker-run.ts';
import { freePort } from '../helpers/ports.ts';
import { readmeExample, runScript } from '../helpers/readme-example.ts';
import { plainClient, repoAndTag } from '../helpers/registry-client.ts';
import { waitUntil } from '../helpers/wait.ts';
import { ComposeStack } from './compose-stack.ts';
import { assertNothingLost, StackClient, watchReadiness, writeBigScript, type Build } from './stack-client.ts';
import { builtImages, removeStackLeftovers, seedMirror } from './stack-images.ts';

const repo = path.resolve(import.meta.dirname, '../..');
const docker = dockerClient({});
const SERVICES = ['loopback', 's3', 's3-buckets', 'registry', 'postgres', 'redis', 'api', 'builder', 'analyzer'];
const KILN = ['api', 'builder', 'analyzer'];
const sec = (ms: number) => Math.round(ms / 100) / 10;

describe('the production stack (compose.yaml + deploy/compose.local.yaml)', { timeout: 45 * 60_000 }, () => {
  let stack: ComposeStack;
  let kiln: StackClient;
  let work: string;
  let firstUpload: string;
  let bigUpload: string;
  const builds: Record<string, Build> = {};
  const figures: Record<string, unknown> = {};
  const restarts: Record<string, unknown> = {};

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'kiln-deploy-'));
    const tree = await ensureEngineTree({ stateDir: stackStateDir(loadStackConfig(process.env, repo).dataDir), log: pino({ level: 'warn' }) });
    stack = new ComposeStack({ compose: tree.compose, docker, apiPort: await freePort(), registryPort: await freePort() });
    await stack.init();
    figures.compose = (await stack.run(['version', '--short'])).trim();
    figures.engine = (await docker.version()).Version;

    figures.build = await builtImages(docker, () => stack.run(['build']));

    // The registry's side first: the test then seeds the mirror the builder pulls the root from (standing in for
    // Docker Hub, which a real host pulls debian:bookworm-slim from), and starts the rest.
    let t0 = Date.now();
    await stack.run(['up', '--detach', 'registry']);
    const first = await stack.waitHealthy(['loopback', 's3', 's3-buckets', 'registry'], t0);
    const seedMs = await seedMirror(docker, stack.mirror);
    t0 = Date.now();
    await stack.run(['up', '--detach']);
    const rest = await stack.waitHealthy(SERVICES, t0);
    figures.healthy = {
      registrySideSeconds: sec(Math.max(...Object.values(first))),
      mirrorSeededSeconds: sec(seedMs),
      restSeconds: sec(Math.max(...Object.values(rest))),
      perService: Object.fromEntries(Object.entries({ ...rest, ...first }).map(([k, v]) => [k, sec(v)])),
    };

    // The builder made its root itself: pulled through the mirror, under a name no other test uses.
    const logs = await stack.run(['logs', '--no-color', 'builder']);
    assert.match(logs, new RegExp(`"source":"pulled","detail":"${stack.mirror}/library/debian:bookworm-slim"`), logs.slice(-3000));
    await docker.getImage(`${stack.rootPrefix}:debian-bookworm`).inspect();

    // The first admin token, the way an operator gets it: in the api's container, where the database is.
    const out = await stack.run(['exec', '-T', 'api', 'node', 'bin/kiln.js', 'admin', 'create-token']);
    const token = /kiln_[A-Za-z0-9_-]{20,}/.exec(out)?.[0];
    assert.ok(token, out);
    kiln = new StackClient(stack.apiUrl, token);
  });

  after(async () => {
    await stack?.down().catch((err: Error) => console.error(err.message));
    if (stack) await removeStackLeftovers(docker, stack);
    if (work) await rm(work, { recursive: true, force: true });
    figures.restarts = restarts;
    await mkdir(path.join(repo, 'test/artifacts'), { recursive: true });
    await writeFile(path.join(repo, 'test/artifacts/deploy.json'), `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`deployment figures (test/artifacts/deploy.json):\n${JSON.stringify(figures, null, 2)}`);
  });

  /** The README's example as a reader pastes it, with `demo/hello:1` renamed to `tag`. */
  async function example(tag: string): Promise<{ build: Build; out: string; seconds: number }> {
    const script = (await readmeExample()).replace('"image": "demo/hello:1"', `"image": "demo/hello:${tag}"`);
    assert.ok(script.includes(`demo/hello:${tag}`));
    const t0 = Date.now();
    const r = await runScript(script, { cwd: work, env: { ...process.env, KILN_URL: stack.apiUrl, KILN_TOKEN: kiln.token } });
    assert.equal(r.code, 0, r.out);
    const line = /^\{"id":.*$/m.exec(r.out)?.[0];
    assert.ok(line, r.out);
    const build = JSON.parse(line) as Build;
    assert.equal(build.status, 'succeeded', r.out);
    assert.match(r.out, /^hello from kiln, OpenSSL 3\.\d+\.\d+$/m);
    builds[`hello:${tag}`] = build;
    return { build, out: r.out, seconds: sec(Date.now() - t0) };
  }

  const summary = (r: { build: Build; out: string; seconds: number }) => ({
    route: r.build.plan.base.kind,
    buildSeconds: sec(Date.parse(r.build.finishedAt!) - Date.parse(r.build.startedAt!)),
    exampleSeconds: r.seconds,
    printed: /^hello from kiln.*$/m.exec(r.out)?.[0],
    log: r.out.split('\n').filter((l) => l.startsWith('kiln: ')),
  });

  it('runs the README example through the stack: installed first, composed once its layer is built and verified', async () => {
    const installed = await example('1');
    assert.notEqual(installed.build.plan.base.kind, 'composed');
    // The example prints the log's last lines; the whole log says why it installed.
    assert.match(await kiln.log(installed.build.id), /kiln: installing: no layer of openssl@3 yet/);
    firstUpload = (await kiln.inventory()).uploads[0]!.id;

    // The installed build queued openssl@3's layer; the builder builds it, then verifies the combination.
    await waitUntil(async () => (await kiln.inventory()).layers.some((l) => l.component === 'openssl@3' && l.status === 'ready'), 'the openssl@3 layer', 300_000, 1000);
    await waitUntil(async () => (await kiln.inventory()).compositions.some((c) => c.status === 'verified'), 'the verified combination', 300_000, 1000);

    const composed = await example('2');
    assert.equal(composed.build.plan.base.kind, 'composed');
    assert.match(await kiln.log(composed.build.id), /kiln: composing .*demo\/hello:2 from openssl@3: no engine build, no install/);
    figures.readmeExample = { installed: summary(installed), composed: summary(composed) };
  });

  it('restarts postgres: the api is not ready while it is down, and every record is still there', async () => {
    const before = await kiln.inventory();
    restarts.postgres = await watchReadiness(stack.apiUrl, () => stack.run(['restart', 'postgres']));
    await stack.waitHealthy(['postgres', ...KILN], Date.now());
    assertNothingLost(before, await kiln.inventory(), 'after postgres restarted');
  });

  it('restarts redis with a build waiting in the queue: the build survives and runs once a builder is back', async () => {
    await stack.run(['stop', 'builder']);
    const id = await kiln.postBuild(firstUpload, 'demo/hello:3');
    assert.equal((await kiln.build(id)).status, 'queued');
    const seen = await watchReadiness(stack.apiUrl, () => stack.run(['restart', 'redis']));
    await stack.waitHealthy(['redis', 'api', 'analyzer'], Date.now());
    const queue = await kiln.json<{ waiting: number }>('/v1/queue');
    assert.ok(queue.waiting >= 1, JSON.stringify(queue));
    const t0 = Date.now();
    await stack.run(['start', 'builder']);
    const b = await kiln.waitForBuild(id);
    assert.equal(b.status, 'succeeded', b.error ?? '');
    builds['hello:3'] = b;
    assert.match((await runImage(docker, b.imageRef)).output, /^hello from kiln, OpenSSL 3/);
    await stack.waitHealthy(['builder'], Date.now());
    restarts.redis = { ...seen, queuedBuildWaitingAfterRestart: queue.waiting, queuedBuildSucceededSecondsAfterBuilderStart: sec(Date.now() - t0) };
  });

  it('restarts s3: uploads and build logs are still read from it, and new uploads go in', async () => {
    const before = await kiln.inventory();
    const log = await kiln.log(builds['hello:1']!.id);
    restarts.s3 = await watchReadiness(stack.apiUrl, () => stack.run(['restart', 's3']));
    await stack.waitHealthy(['s3', 'api', 'builder'], Date.now());
    assert.equal(await kiln.log(builds['hello:1']!.id), log, 'the first build’s log, kept in S3');
    assertNothingLost(before, await kiln.inventory(), 'after s3 restarted');
    const big = path.join(work, 'big.sh');
    await writeBigScript(big, 150 * 1024 * 1024, 'big hello from kiln');
    const t0 = Date.now();
    bigUpload = await kiln.uploadFile(big);
    (restarts.s3 as Record<string, unknown>).upload150MiBSecondsAfter = sec(Date.now() - t0);
  });

  it('restarts the registry: every pushed image still pulls and runs', async () => {
    restarts.registry = await watchReadiness(stack.apiUrl, () => stack.run(['restart', 'registry']));
    await stack.waitHealthy(['registry', ...KILN], Date.now());
    for (const tag of ['1', '2', '3']) {
      const ref = builds[`hello:${tag}`]!.imageRef;
      await docker.getImage(ref).remove({ force: true }).catch(() => undefined);
      await pull(docker, ref);
      assert.match((await runImage(docker, ref)).output, /^hello from kiln, OpenSSL 3/, ref);
    }
  });

  it('restarts the api: it serves again, and lists every build, upload and image', async () => {
    const before = await kiln.inventory();
    restarts.api = await watchReadiness(stack.apiUrl, () => stack.run(['restart', 'api']));
    assertNothingLost(before, await kiln.inventory(), 'after the api restarted');
  });

  it('restarts the analyzer: its schedule survives, and it applies retention again', async () => {
    // A rule that keeps everything: the analyzer's scheduled retention run records itself without deleting anything.
    await kiln.json('/v1/projects/default/retention', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keepNewest: 1000 }) });
    const t0 = Date.now();
    const seen = await watchReadiness(stack.apiUrl, () => stack.run(['restart', 'analyzer']));
    await stack.waitHealthy(['analyzer'], Date.now());
    const lastRun = async () => (await kiln.json<{ lastRunAt: string | null }>('/v1/projects/default/retention')).lastRunAt;
    await waitUntil(async () => Date.parse((await lastRun()) ?? '0') > t0, 'a retention run by the restarted analyzer', 60_000, 500);
    restarts.analyzer = { ...seen, retentionRunSecondsAfterRestart: sec(Date.parse((await lastRun())!) - t0) };
    assert.ok((await kiln.inventory()).images.every((i) => i.status === 'current'), 'the rule deleted nothing');
  });

  it('restarts the builder during a build: the build finishes (or is requeued) and succeeds', async () => {
    const id = await kiln.postBuild(bigUpload, 'demo/big:1');
    await kiln.waitForStatus(id, 'running');
    const status = (await kiln.build(id)).status;
    const t0 = Date.now();
    // SIGTERM: the builder takes no new build and gives the running one KILN_SHUTDOWN_GRACE_SECONDS to finish.
    await stack.run(['restart', 'builder']);
    const restartMs = Date.now() - t0;
    const b = await kiln.waitForBuild(id);
    assert.equal(b.status, 'succeeded', b.error ?? '');
    await stack.waitHealthy(['builder'], Date.now());
    const attempts = ((await kiln.log(id)).match(/^kiln: attempt /gm) ?? []).length;
    restarts.builder = { statusWhenRestarted: status, restartSeconds: sec(restartMs), buildEndedSecondsAfterRestartBegan: sec(Date.parse(b.finishedAt!) - t0), attempts };
    builds['big:1'] = b;
  });

  it('kills the builder mid-build (SIGKILL): the engine restarts it, and the build is taken over and succeeds', async () => {
    const before = await stack.container('builder');
    const id = await kiln.postBuild(bigUpload, 'demo/big:2');
    await kiln.waitForStatus(id, 'running');
    await new Promise((r) => setTimeout(r, 1000));
    const status = (await kiln.build(id)).status;
    const t0 = Date.now();
    // The container's own process, from the host (a crash or an OOM kill): `docker kill` would count as a stop by
    // hand, after which the engine does not apply the restart policy.
    process.kill((await stack.container('builder')).pid, 'SIGKILL');
    await waitUntil(async () => (await stack.container('builder')).restartCount > before.restartCount, 'the engine restarting the builder', 60_000, 250);
    const healthy = await stack.waitHealthy(['builder'], t0);
    const b = await kiln.waitForBuild(id);
    assert.equal(b.status, 'succeeded', b.error ?? '');
    const attempts = ((await kiln.log(id)).match(/^kiln: attempt /gm) ?? []).length;
    restarts.builderKilled = { statusWhenKilled: status, healthyAgainSeconds: sec(healthy.builder!), buildEndedSecondsAfterKill: sec(Date.parse(b.finishedAt!) - t0), attempts };
    builds['big:2'] = b;
    assert.match((await runImage(docker, b.imageRef)).output, /^big hello from kiln, OpenSSL 3/);
  });

  it('builds after all the restarts, and every image kiln lists is in the registry', async () => {
    const last = await example('4');
    assert.equal(last.build.plan.base.kind, 'composed');
    figures.afterRestarts = summary(last);
    const registry = plainClient(stack.registry);
    const { images } = await kiln.inventory();
    assert.equal(images.length, Object.keys(builds).length, JSON.stringify(images.map((i) => i.imageRef)));
    for (const i of images) {
      const { repository, tag } = repoAndTag(i.imageRef);
      assert.equal(await registry.manifestDigest(repository, tag), i.digest, i.imageRef);
    }
  });
});

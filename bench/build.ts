// `npm run bench:build [-- --combos jdk+openssl,gcc+openssl,cuda+gcc --runs 3 --engine docker26-containerd]`: how long a
// build takes end to end through the API (POST → pushed, digest recorded: the build's own queued → finished times),
// measured on a builder whose engine holds none of the combination's layers (a second engine, as on another host,
// holding only the root; `--engine`: debian12 — Debian 12's 20.10, the default —, docker26 or docker26-containerd —
// Debian 13's 26.1 with the overlay2 or the containerd image store, see test/helpers/second-engine.ts):
//   cold      composition off, no template: every component installs
//   template  composition off, FROM a ready template of exactly the combination (pulled by the builder)
//   composed  the combination's layers prebuilt and verified: assembled in the registry (first build: + verification)
//   floor     composition off, no component: root + binary through the engine
// Preparation (templates, layers) runs on the main engine. Installs here use a very fast mirror; real networks are
// 10–100× slower, which only widens the gaps.
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import type Docker from 'dockerode';
import { Queue } from 'bullmq';
import { templateRepository } from '../analyzer/analyzer-service.ts';
import { startBuilder, type RunningBuilder } from '../builder/builder-process.ts';
import { loadCatalog } from '../core/catalog/catalog-loader.ts';
import { resolveComponents } from '../core/catalog/component-resolver.ts';
import { loadStackConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { BUILD_QUEUE, LAYERS_JOB, layersJobOptions, TEMPLATE_JOB, templateJobOptions, type LayersJob, type TemplateJob } from '../core/queues.ts';
import { createTemplateStore } from '../core/db/template-store.ts';
import { rootSpecs } from '../stack/root-specs.ts';
import { ensureLocalStack } from '../stack/local-stack.ts';
import { call, postBuild, upload, waitForBuild } from '../test/helpers/api-client.ts';
import { spawnBuilder, stopChild } from '../test/helpers/builder-process.ts';
import { endOnSignal } from '../test/helpers/end-on-signal.ts';
import { engineKinds, startSecondEngine, type EngineKind, type SecondEngine } from '../test/helpers/second-engine.ts';
import { startTestKiln, type TestKiln } from '../test/helpers/test-kiln.ts';

const { values } = parseArgs({
  options: { combos: { type: 'string', default: 'jdk+openssl,gcc+openssl,cuda+gcc' }, runs: { type: 'string', default: '3' }, engine: { type: 'string', default: 'debian12' } },
});
if (!(engineKinds as readonly string[]).includes(values.engine)) throw new Error(`--engine must be one of ${engineKinds.join(', ')}`);
const runs = Math.max(1, Number(values.runs));
const repo = path.resolve(import.meta.dirname, '..');
const settings = loadStackConfig(process.env, repo);
const log = createLogger({ level: 'info', name: 'bench-build' });
const catalog = await loadCatalog(settings.catalogDir);
const stack = await ensureLocalStack({ dataDir: settings.dataDir, withPostgres: true, roots: rootSpecs(catalog, settings.KILN_ROOT_IMAGE_PREFIX), log });
Object.assign(process.env, stack.env);
const ROOT = 'debian-bookworm';
const rootImage = `${settings.KILN_ROOT_IMAGE_PREFIX}:${ROOT}`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const fmt = (s: number) => s.toFixed(s < 10 ? 2 : 1);

let kiln: TestKiln | undefined;
let engine2: SecondEngine | undefined;
let engineDescription = '';
let builderA: RunningBuilder | undefined;
let builderB: ChildProcess | undefined;
const rows: string[] = [];
// Ended with SIGTERM or SIGINT, the bench ends what it started, as its `finally` below does (Node runs no `finally` then).
// Once: a signal mid-run also ends the run itself, whose `finally` then comes here too — two closes of one kiln at a time
// raced (BullMQ: 'Cannot obliterate non-paused queue'), the bench crashed, and the second dockerd outlived it. Every
// step runs even when one before it fails: what is not ended would keep running after the bench.
let ending: Promise<void> | undefined;
const endWork = (): Promise<void> =>
  (ending ??= (async () => {
    const steps = [() => builderA?.close(0), () => stopChild(builderB), () => kiln?.close(), () => engine2?.stop(), () => stack.stop()];
    const failures: unknown[] = [];
    for (const step of steps) await Promise.resolve().then(step).catch((err: unknown) => failures.push(err));
    if (failures.length > 0) throw new AggregateError(failures, `ending the bench: ${failures.map((e) => (e as Error).message).join('; ')}`);
  })());
const forgetEnd = endOnSignal(endWork);
try {
  kiln = await startTestKiln({
    db: 'postgres',
    builder: false,
    env: {
      LOG_LEVEL: 'warn',
      KILN_COMPOSITION: 'true',
      KILN_ANALYZER_INTERVAL_SECONDS: '0',
      KILN_TEMPLATE_MAX: '20',
      KILN_TEMPLATE_MIN_SUPPORT: '0.5',
      KILN_TEMPLATE_MIN_SECONDS: '0',
      KILN_TEMPLATE_STORAGE_SECONDS_PER_GIB: '0',
      KILN_PREVERIFY_MAX: '0',
      // No layers ahead of demand: the bench builds exactly the layers it measures.
      KILN_LAYER_BUDGET_BYTES: '1',
      KILN_BUILD_TIMEOUT_SECONDS: '7200',
      KILN_BUILD_TIMEOUT_MAX_SECONDS: '14400',
    },
  });
  engine2 = await startSecondEngine({ kind: values.engine as EngineKind });
  engineDescription = engine2.description;
  log.info({ engine: engine2.kind, is: engine2.description }, 'measuring on the second engine');
  const k = kiln;
  const e2 = engine2;

  /** Only the root stays on the second engine: it holds none of a combination's layers when a measure starts. */
  const clearEngine2 = async () => {
    for (const img of await e2.docker.listImages({ all: true })) {
      if (!(img.RepoTags ?? []).includes(rootImage)) await e2.docker.getImage(img.Id).remove({ force: true }).catch(() => undefined);
    }
  };
  const onMain = async () => {
    await stopChild(builderB);
    builderB = undefined;
    builderA ??= await startBuilder(k.infra);
  };
  const onSecond = async (composition: boolean) => {
    await builderA?.close(0);
    builderA = undefined;
    await stopChild(builderB);
    await clearEngine2();
    builderB = spawnBuilder(k, { DOCKER_HOST: e2.host, KILN_COMPOSITION: String(composition) });
    // A new builder's first build may wait for it to publish its roots (labels only): not what a measure is about.
    await measure([], 'warmup');
  };
  /** One build through the API; its duration is the build's own POST → digest recorded (queued → finished). */
  const measure = async (components: string[], label: string) => {
    const up = await upload(k, Buffer.from(`#!/bin/sh\necho bench ${label} ${randomBytes(4).toString('hex')}\n`));
    const res = await postBuild(k, { components, uploadId: up.body.id, binaryPath: '/usr/local/bin/app', entrypoint: ['/usr/local/bin/app'], image: `bench/${label}:${randomBytes(3).toString('hex')}`, timeoutSeconds: 7200 });
    if (res.status !== 202) throw new Error(`POST /v1/builds: ${res.status} ${JSON.stringify(res.body)}`);
    const b = (await waitForBuild(k, res.body.id, 7_200_000)) as Awaited<ReturnType<typeof waitForBuild>> & { queuedAt: string; finishedAt: string; plan: { base: { kind: string } } };
    if (b.status !== 'succeeded') throw new Error(`${label}: ${b.status}: ${b.error}`);
    const seconds = (Date.parse(b.finishedAt) - Date.parse(b.queuedAt)) / 1000;
    const verify = b.steps.find((s) => s.component === 'verify')?.seconds ?? 0;
    log.info({ label, seconds, base: b.plan.base.kind, verify }, 'measured');
    return { seconds, base: b.plan.base.kind, verify };
  };
  const expectBase = (m: { base: string }, want: string, what: string) => {
    if (m.base !== want) throw new Error(`${what} started from ${m.base}, not ${want}`);
  };

  // The root published (the second engine pulls it from there) before anything is measured.
  await onMain();
  await measure([], 'warmup');
  /** The floor, measured beside each combination's composed builds (a loaded machine changes both alike). */
  const measureFloor = async () => {
    await onSecond(false);
    const floor: number[] = [];
    for (let i = 0; i < runs; i++) {
      const m = await measure([], 'floor');
      expectBase(m, 'root', 'the floor');
      floor.push(m.seconds);
    }
    return floor;
  };

  for (const combo of values.combos.split(',')) {
    const components = resolveComponents(catalog, ROOT, combo.split('+')).components.map((v) => v.key);
    const label = combo.replace(/\+/g, '-');
    // Cold: nothing of it anywhere yet (no template, composition off), on an engine holding only the root.
    await onSecond(false);
    const cold = await measure(components, `${label}-cold`);
    expectBase(cold, 'root', `${combo} cold`);

    // Template of exactly this combination, queued on the main engine as an analysis deciding to build it would (one
    // cold build in the history does not pay for a template's own build, so the analyzer rightly would not choose it).
    await onMain();
    const templateId = randomUUID();
    const resolved = resolveComponents(catalog, ROOT, components).components;
    await createTemplateStore(k.infra.database.db).insertBuilding({
      id: templateId,
      root: ROOT,
      componentKey: components.join('+'),
      components: resolved.map((v) => ({ name: v.name, version: v.version, key: v.key, recipeHash: v.recipeHash })),
      imageRef: `${k.config.REGISTRY_HOST}/${templateRepository(k.config, ROOT)}:${templateId}`,
    });
    const templates = new Queue<TemplateJob>(BUILD_QUEUE, { connection: k.infra.redis('producer'), prefix: k.config.KILN_QUEUE_PREFIX });
    await templates.add(TEMPLATE_JOB, { templateId }, templateJobOptions(templateId, { attempts: 1, backoffSeconds: 1 }));
    await templates.close();
    for (;;) {
      const t = ((await (await call(k, `/v1/templates/${templateId}`)).json()) as { status: string; error: string | null });
      if (t.status === 'ready') break;
      if (t.status !== 'building') throw new Error(`the template of ${combo}: ${t.status}: ${t.error}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    // The combination's layers, built on the main engine (verification is left to the first composed build).
    const queue = new Queue<LayersJob>(BUILD_QUEUE, { connection: k.infra.redis('producer'), prefix: k.config.KILN_QUEUE_PREFIX });
    const job: LayersJob = { root: ROOT, components, verify: false };
    await queue.add(LAYERS_JOB, job, layersJobOptions(job, { attempts: 1, backoffSeconds: 1 }));
    await queue.close();
    for (;;) {
      const ls = ((await (await call(k, '/v1/layers')).json()) as { layers: { component: string; status: string; error: string | null }[] }).layers;
      const bad = ls.find((l) => l.status === 'failed');
      if (bad) throw new Error(`layer ${bad.component} failed: ${bad.error}`);
      if (components.every((c) => ls.some((l) => l.component === c && l.status === 'ready'))) break;
      await new Promise((r) => setTimeout(r, 1000));
    }

    await onSecond(false);
    const template = await measure(components, `${label}-template`);
    expectBase(template, 'template', `${combo} with its template`);

    await onSecond(true);
    const first = await measure(components, `${label}-composed-first`);
    expectBase(first, 'composed', `${combo} composed`);
    await clearEngine2();
    const composed: number[] = [];
    for (let i = 0; i < runs; i++) {
      const m = await measure(components, `${label}-composed`);
      expectBase(m, 'composed', `${combo} composed`);
      composed.push(m.seconds);
    }
    const c = median(composed);
    const f = median(await measureFloor());
    rows.push(
      [
        combo.padEnd(14),
        fmt(cold.seconds).padStart(8),
        fmt(template.seconds).padStart(10),
        `${fmt(first.seconds)} (verify ${fmt(first.verify)})`.padStart(22),
        fmt(c).padStart(10),
        fmt(f).padStart(8),
        (cold.seconds / c).toFixed(1).padStart(14),
        (c / f).toFixed(2).padStart(14),
        (cold.seconds / template.seconds).toFixed(1).padStart(14),
      ].join(' '),
    );
    console.log(rows.at(-1));
  }
} finally {
  forgetEnd();
  await endWork();
}

console.log(`\nend to end through the API (POST → digest recorded), builder on an engine holding only the root (${values.engine}: ${engineDescription}); composed and floor: median of ${runs}`);
console.log('combination      cold s  template s   composed s (1st build)  composed s  floor s  cold/composed  composed/floor  cold/template');
for (const r of rows) console.log(r);
console.log('goals: composed/floor ≤ 1.5; cold/composed ≥ 20 for cuda+gcc and ≥ 5 for jdk+openssl');

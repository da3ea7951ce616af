// `npm run bench:build`: on the real engine, builds each combination cold (no layer cache, no template), then FROM
// its template, and the floor (root + binary only), all with kiln's own renderer and engine calls, and prints the
// ratios measured in this one run. Installs here use a very fast mirror; real networks are 10–100× slower.
import { parseArgs } from 'node:util';
import { createLogger } from '../core/logger.ts';
import { loadCatalog } from '../core/catalog/catalog-loader.ts';
import { resolveComponents } from '../core/catalog/component-resolver.ts';
import { rootImageName } from '../core/build-planner.ts';
import type { BuildPlan, PlanBase } from '../core/build-types.ts';
import { dockerClient } from '../core/infrastructure.ts';
import { buildContext } from '../builder/build-context.ts';
import { BuildProgress } from '../builder/build-progress.ts';
import { renderDockerfile, renderTemplateDockerfile } from '../builder/dockerfile-render.ts';
import { buildImage } from '../builder/docker-engine.ts';
import { Readable } from 'node:stream';
import path from 'node:path';

const { values } = parseArgs({ options: { combos: { type: 'string', default: 'jdk+openssl,gcc+openssl,cuda+gcc' } } });
const log = createLogger({ level: 'warn' });
const catalog = await loadCatalog(path.resolve(import.meta.dirname, '../base-images'));
const docker = dockerClient({ DOCKER_HOST: process.env.DOCKER_HOST });
const rootImage = rootImageName('kiln-root', 'debian-bookworm');
const run = Date.now().toString(36);
const made: string[] = [];
const binary = Buffer.from('#!/bin/sh\necho bench\n');

async function timedBuild(tag: string, rendered: ReturnType<typeof renderDockerfile>, withBinary: boolean): Promise<number> {
  const progress = new BuildProgress(rendered.instructions);
  const started = performance.now();
  await buildImage(
    docker,
    buildContext(rendered, withBinary ? { stream: Readable.from([binary]), size: binary.length } : undefined),
    { tag, labels: {}, noCache: true },
    (ev) => void progress.onEvent(ev, Date.now()),
  );
  if (progress.error) throw new Error(`${tag}: ${progress.error}`);
  made.push(tag);
  return (performance.now() - started) / 1000;
}

function plan(components: string[], base: PlanBase): BuildPlan {
  const r = resolveComponents(catalog, 'debian-bookworm', components);
  if (r.problems.length) throw new Error(r.problems.map((p) => p.message).join('; '));
  return {
    root: { name: 'debian-bookworm', image: rootImage },
    base,
    components: r.components.map((v) => ({ name: v.name, version: v.version, key: v.key, recipeHash: v.recipeHash })),
    binary: { uploadId: 'bench', sha256: '', size: binary.length, s3Key: '', path: '/usr/local/bin/app' },
    entrypoint: ['/usr/local/bin/app'],
    env: {},
    imageRef: `kiln-bench/app:${run}`,
  };
}

const versionsOf = (p: BuildPlan) => p.components.map((c) => catalog.components.get(c.name)!.versions.get(c.version)!);
const rows: string[] = [];
try {
  const floor = await timedBuild(`kiln-bench/floor:${run}`, renderDockerfile(plan([], { kind: 'root', image: rootImage }), []), true);
  for (const combo of values.combos.split(',')) {
    const components = combo.split('+');
    const coldPlan = plan(components, { kind: 'root', image: rootImage });
    const cold = await timedBuild(`kiln-bench/cold-${combo.replace(/\+/g, '-')}:${run}`, renderDockerfile(coldPlan, versionsOf(coldPlan)), true);
    const templateTag = `kiln-bench/template-${combo.replace(/\+/g, '-')}:${run}`;
    const templateSeconds = await timedBuild(templateTag, renderTemplateDockerfile(rootImage, versionsOf(coldPlan), new Set()), false);
    const tplPlan = plan(components, { kind: 'template', image: templateTag, digest: '', templateId: 'bench', covers: coldPlan.components.map((c) => c.key), secondsSaved: 0 });
    const withTemplate = await timedBuild(`kiln-bench/tpl-${combo.replace(/\+/g, '-')}:${run}`, renderDockerfile(tplPlan, versionsOf(tplPlan)), true);
    rows.push(
      `${combo.padEnd(16)} ${cold.toFixed(1).padStart(8)} ${withTemplate.toFixed(1).padStart(10)} ${floor.toFixed(1).padStart(8)} ${(cold / withTemplate).toFixed(1).padStart(14)} ${(withTemplate / floor).toFixed(2).padStart(15)}   (template itself: ${templateSeconds.toFixed(1)} s)`,
    );
    console.log(rows.at(-1));
  }
} finally {
  // Newest first, so that images built FROM others go before their bases.
  for (const tag of made.reverse()) await docker.getImage(tag).remove({ force: true }).catch((err: unknown) => log.warn({ err, tag }, 'could not remove'));
}
console.log('\ncombination        cold s  template s  floor s  cold/template  template/floor');
for (const r of rows) console.log(r);

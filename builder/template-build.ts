// The template job: builds a template image (root or a smaller template + components, no binary) with the same
// renderer and engine calls as builds, pushes it under kiln's own repository, and records it ready.
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type Docker from 'dockerode';
import { chooseBase } from '../analyzer/template-choice.ts';
import type { Costs } from '../analyzer/template-scorer.ts';
import { rootImageName } from '../core/build-planner.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import type { TemplateStore } from '../core/db/template-store.ts';
import type { TemplateRow } from '../core/db/schema/templates.ts';
import type { Logger } from '../core/logger.ts';
import { templateJobSchema } from '../core/queues.ts';
import { isTransient } from './build-errors.ts';
import { buildContext } from './build-context.ts';
import { BuildProgress } from './build-progress.ts';
import { planVersions } from './build-runner.ts';
import { renderTemplateDockerfile } from './dockerfile-render.ts';
import { buildImage, ensureBaseImage, pushImage, splitImageRef, type PublishedRoots, type RegistryAuth } from './docker-engine.ts';

export interface TemplateBuildDeps {
  docker: Docker;
  catalog: Catalog;
  templates: TemplateStore;
  registryAuth: RegistryAuth;
  /** Where a root this engine lacks is pulled from (the same path as builds). */
  roots: PublishedRoots;
  rootImagePrefix: string;
  costs(): Promise<Costs>;
  log: Logger;
}

const isStrictSubset = (small: TemplateRow, big: TemplateRow) =>
  small.root === big.root && small.components.length < big.components.length && small.components.every((c) => big.components.some((b) => b.key === c.key));

export function createTemplateProcessor(deps: TemplateBuildDeps) {
  return async function processTemplate(job: Job, token?: string): Promise<unknown> {
    const parsed = templateJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`malformed template job ${job.id}: ${parsed.error.message}`);
    const t = await deps.templates.get(parsed.data.templateId);
    if (!t) throw new UnrecoverableError(`template ${parsed.data.templateId} does not exist`);
    if (t.status !== 'building') return { skipped: t.status }; // idempotent: already built, or ended meanwhile
    const log = deps.log.child({ templateId: t.id, components: t.componentKey });

    const live = await deps.templates.list(['ready', 'building']);
    // Nested: a smaller template of this set still being built is the one to build FROM: wait for it.
    if (token && live.some((p) => p.status === 'building' && p.id !== t.id && isStrictSubset(p, t))) {
      await job.moveToDelayed(Date.now() + 3_000, token);
      throw new DelayedError();
    }

    const started = Date.now();
    try {
      const versions = planVersions(deps.catalog, t);
      const ready = live
        .filter((p) => p.status === 'ready' && p.id !== t.id && p.digest)
        .map((p) => ({ id: p.id, root: p.root, imageRef: p.imageRef, digest: p.digest!, components: p.components }));
      const base = chooseBase({ root: t.root, rootImage: rootImageName(deps.rootImagePrefix, t.root), components: t.components }, ready, await deps.costs());
      await ensureBaseImage(deps.docker, base.kind === 'template' ? base : { kind: 'root', image: base.image, root: t.root }, {
        auth: deps.registryAuth,
        roots: deps.roots,
      });
      const rendered = renderTemplateDockerfile(base.image, versions, new Set(base.kind === 'template' ? base.covers : []));

      const progress = new BuildProgress(rendered.instructions);
      await buildImage(
        deps.docker,
        buildContext(rendered),
        {
          tag: t.imageRef,
          labels: {
            'dev.kiln.template-id': t.id,
            'dev.kiln.root': t.root,
            'dev.kiln.base': base.image,
            'dev.kiln.components': t.components.map((c) => `${c.key}=${c.recipeHash}`).join(','),
          },
        },
        (ev) => void progress.onEvent(ev, Date.now()),
      );
      progress.finish(Date.now());
      if (progress.error) throw Object.assign(new Error(`template step failed: ${progress.error}`), { permanent: true });
      const { repository, tag } = splitImageRef(t.imageRef);
      const digest = await pushImage(deps.docker, { repository, tag, registry: deps.registryAuth.serveraddress }, deps.registryAuth, () => undefined);
      const info = await deps.docker.getImage(t.imageRef).inspect();
      const buildSeconds = (Date.now() - started) / 1000;
      await deps.templates.markReady(t.id, { digest, sizeBytes: info.Size, buildSeconds, parentId: base.kind === 'template' ? base.templateId : null });
      log.info({ digest, base: base.image, buildSeconds }, 'template ready');
      return { digest };
    } catch (err) {
      const permanent = (err as { permanent?: boolean }).permanent === true || !isTransient(err);
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (permanent || last) await deps.templates.markFailed(t.id, (err as Error).message);
      log.warn({ err, permanent }, 'template build failed');
      if (permanent) throw new UnrecoverableError((err as Error).message);
      throw err;
    }
  };
}

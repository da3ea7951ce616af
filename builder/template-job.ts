// The template job: a template (root or a smaller template + components, no binary) through the same image pipeline
// and job lifecycle as builds — cancel, timeout, shutdown requeue, log — pushed under kiln's own repository and
// recorded ready.
import { DelayedError, UnrecoverableError } from 'bullmq';
import { rootImageName } from '../core/build-planner.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import type { TemplateStore } from '../core/db/template-store.ts';
import type { TemplateRow } from '../core/db/schema/templates.ts';
import { templateJobSchema, type JobHandler } from '../core/queues.ts';
import type { BaseResolver } from './base-resolver.ts';
import { planVersions } from './build-job.ts';
import { renderTemplateDockerfile } from './dockerfile-render.ts';
import { templateLabels } from '../core/image-labels.ts';
import { produceImage, type PipelineDeps } from './image-pipeline.ts';
import type { JobLifecycle } from './job-lifecycle.ts';

export interface TemplateJobDeps extends PipelineDeps {
  catalog: Catalog;
  templates: Pick<TemplateStore, 'get' | 'list' | 'markReady' | 'markEndedUnbuilt'>;
  bases: BaseResolver;
  rootImagePrefix: string;
  timeoutSeconds: number;
  /** How long a template waits for a smaller one of its set that is still being built (its base, once ready). */
  nestedWaitMs?: number;
}

const isStrictSubset = (small: TemplateRow, big: TemplateRow) =>
  small.root === big.root && small.components.length < big.components.length && small.components.every((c) => big.components.some((b) => b.key === c.key));

export function templateJobHandler(deps: TemplateJobDeps, lifecycle: JobLifecycle): JobHandler {
  return async (job, token) => {
    const parsed = templateJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`malformed template job ${job.id}: ${parsed.error.message}`);
    const t = await deps.templates.get(parsed.data.templateId);
    if (!t) throw new UnrecoverableError(`template ${parsed.data.templateId} does not exist`);
    if (t.status !== 'building') return { skipped: t.status }; // idempotent: already built, or ended meanwhile

    // Nested: a smaller template of this set still being built is the one to build FROM: wait for it.
    const building = await deps.templates.list(['building']);
    if (token && building.some((p) => p.id !== t.id && isStrictSubset(p, t))) {
      await job.moveToDelayed(Date.now() + (deps.nestedWaitMs ?? 3_000), token);
      throw new DelayedError();
    }

    const outcome = await lifecycle.runAttempt(job, token, {
      noun: 'template build',
      id: t.id,
      timeoutSeconds: deps.timeoutSeconds,
      async run(signal, appendLog, retry) {
        const started = Date.now();
        const versions = planVersions(deps.catalog, t);
        const rootImage = rootImageName(deps.rootImagePrefix, t.root);
        const base = await deps.bases.choose({ root: t.root, rootImage, components: t.components }, t.id);
        appendLog(`kiln: building template ${t.imageRef} from ${base.image} with ${t.components.map((c) => c.key).join(', ')}\n`);
        const image = await produceImage(
          deps,
          {
            base: base.kind === 'template' ? base : { kind: 'root', image: base.image, root: t.root },
            rendered: renderTemplateDockerfile(base.image, versions, new Set(base.kind === 'template' ? base.covers : [])),
            ref: t.imageRef,
            labels: (identity) => templateLabels(t, identity, new Date()),
            keepImage: true,
            retry,
          },
          appendLog,
          signal,
        );
        return { image, parentId: base.kind === 'template' ? base.templateId : null, buildSeconds: (Date.now() - started) / 1000 };
      },
      // Its uncached steps are measurements of what its components cost, like any build's.
      succeeded: ({ image, parentId, buildSeconds }) =>
        deps.templates.markReady(t.id, {
          digest: image.digest,
          sizeBytes: image.sizeBytes,
          buildSeconds,
          parentId,
          steps: image.steps.map((s, position) => ({ position, component: s.owner, recipeHash: t.components.find((c) => c.key === s.owner)?.recipeHash ?? null, seconds: s.seconds, cached: s.cached })),
        }),
      canceled: async () => void (await deps.templates.markEndedUnbuilt(t.id, 'canceled', 'canceled by an admin')),
      failed: async (error) => void (await deps.templates.markEndedUnbuilt(t.id, 'failed', error)),
      // It stays `building`: the requeued job builds it on whichever builder takes it.
      requeued: async () => undefined,
    });
    return 'result' in outcome ? { digest: outcome.result.image.digest } : outcome;
  };
}

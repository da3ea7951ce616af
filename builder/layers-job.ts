// The layers job: makes the component layers of a combination exist (building the missing ones, in install order),
// and proves the combination when asked — ahead of demand (the analyzer), or for the next build of a combination a
// build found incomplete. Through the same job lifecycle as builds: cancel, timeout, shutdown requeue, a log.
import { UnrecoverableError } from 'bullmq';
import { resolveComponents } from '../core/catalog/component-resolver.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import { notComposable } from '../core/composition/layer-plan.ts';
import { layersJobSchema, type JobHandler } from '../core/queues.ts';
import { ensureVerified } from './combination-verify.ts';
import type { JobLifecycle } from './job-lifecycle.ts';
import { ensureLayers, type LayerWork } from './layer-build.ts';

export interface LayersJobDeps {
  catalog: Catalog;
  work(appendLog: (text: string) => void, signal: AbortSignal): LayerWork;
  timeoutSeconds: number;
}

export function layersJobHandler(deps: LayersJobDeps, lifecycle: JobLifecycle): JobHandler {
  return async (job, token) => {
    const parsed = layersJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`malformed layers job ${job.id}: ${parsed.error.message}`);
    const { root, components: keys, verify } = parsed.data;
    const resolved = resolveComponents(deps.catalog, root, keys);
    if (resolved.problems.length > 0) throw new UnrecoverableError(`layers job ${job.id}: ${resolved.problems.map((p) => p.message).join('; ')}`);
    const components = resolved.components.map((v) => ({ name: v.name, version: v.version, key: v.key, recipeHash: v.recipeHash }));
    const marked = notComposable(deps.catalog, components);
    if (marked.length > 0) return { skipped: `not composable: ${marked.join(', ')}` };

    const outcome = await lifecycle.runAttempt(job, token, {
      noun: 'layer build',
      id: job.id!,
      timeoutSeconds: deps.timeoutSeconds,
      async run(signal, appendLog, retry) {
        const w = { ...deps.work(appendLog, signal), retry };
        const published = await w.svc.publishedRoot(root);
        const layers = await ensureLayers(w, published, components);
        if (!verify || layers.length === 0) return { layers: layers.length, composition: null };
        const composition = await ensureVerified(w, published, layers);
        return { layers: layers.length, composition: composition.status };
      },
      succeeded: async () => undefined,
      canceled: async () => undefined,
      failed: async () => undefined,
      requeued: async () => undefined,
    });
    return 'result' in outcome ? outcome.result : outcome;
  };
}

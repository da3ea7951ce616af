// Acts on composition's share of an analysis (decided by layer-prebuild.ts): queues the layers to build and the
// combinations to verify (the builders do both), retires layers of recipes the catalog no longer has, and deletes
// their manifests from the registry once their grace period is over.
import type { Queue } from 'bullmq';
import type { Catalog } from '../core/catalog/catalog.ts';
import { resolveComponents } from '../core/catalog/component-resolver.ts';
import type { CompositionStore } from '../core/db/composition-store.ts';
import type { Logger } from '../core/logger.ts';
import { LAYERS_JOB, layersJobOptions, type LayersJob } from '../core/queues.ts';
import type { RegistryClient } from '../core/registry-client.ts';
import { planLayerPrebuilds, type LayerPrebuildDecisions } from './layer-prebuild.ts';
import type { DemandHours } from '../core/templates/demand-hours.ts';

export interface LayerActionDeps {
  catalog: Catalog;
  store: Pick<CompositionStore, 'layers' | 'compositions' | 'retireLayers' | 'retiredBefore' | 'markLayerDeleted'>;
  queue: Pick<Queue<LayersJob>, 'add'>;
  registry: Pick<RegistryClient, 'manifestDigest' | 'deleteManifest'>;
  retry: { attempts: number; backoffSeconds: number };
  log: Logger;
}

export async function prebuildLayers(
  deps: LayerActionDeps,
  input: { history: DemandHours; now: number; halfLifeSeconds: number; budgetBytes?: number; preverifyMax: number; graceCutoff: Date },
): Promise<LayerPrebuildDecisions & { manifestsDeleted: string[] }> {
  const layers = await deps.store.layers();
  const byId = new Map(layers.map((l) => [l.id, l]));
  const current = (key: string) => {
    const [name, version] = [key.slice(0, key.indexOf('@')), key.slice(key.indexOf('@') + 1)];
    return deps.catalog.components.get(name)?.versions.get(version)?.recipeHash;
  };
  // A combination judged (verified or refused) on today's recipes needs no verification ahead.
  const judged = new Set<string>();
  for (const c of await deps.store.compositions()) {
    if (c.status === 'verifying') continue;
    if (c.layers.every((l) => byId.get(l.layerId) && current(l.componentKey) === byId.get(l.layerId)!.recipeHash)) judged.add(`${c.root}|${c.componentKey}`);
  }
  const decisions = planLayerPrebuilds({
    catalog: deps.catalog,
    history: input.history,
    now: input.now,
    halfLifeSeconds: input.halfLifeSeconds,
    layers: layers.map((l) => ({ id: l.id, root: l.root, componentKey: l.componentKey, recipeHash: l.recipeHash, baseKeys: l.baseLayers.map((b) => b.componentKey), status: l.status, unpackedBytes: l.unpackedBytes })),
    judged,
    ...(input.budgetBytes !== undefined ? { budgetBytes: input.budgetBytes } : {}),
    preverifyMax: input.preverifyMax,
  });
  for (const j of [...decisions.build.map((b) => ({ ...b, verify: false })), ...decisions.verify.map((v) => ({ ...v, verify: true }))]) {
    const job: LayersJob = { root: j.root, components: resolveComponents(deps.catalog, j.root, j.components).components.map((c) => c.key), verify: j.verify };
    await deps.queue.add(LAYERS_JOB, job, layersJobOptions(job, deps.retry));
  }
  await deps.store.retireLayers(decisions.stale.map((s) => s.id));

  const manifestsDeleted: string[] = [];
  for (const l of await deps.store.retiredBefore(input.graceCutoff)) {
    try {
      // The small manifest named after the layer keeps its blob; without it the registry's GC frees the bytes.
      const digest = await deps.registry.manifestDigest(l.repository, l.id);
      if (digest) await deps.registry.deleteManifest(l.repository, digest);
      await deps.store.markLayerDeleted(l.id);
      manifestsDeleted.push(`${l.repository}:${l.id}`);
    } catch (err) {
      deps.log.warn({ err, layerId: l.id }, 'could not delete a retired layer manifest');
    }
  }
  return { ...decisions, manifestsDeleted };
}

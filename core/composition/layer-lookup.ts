// Which ready layers make a combination on a root: each component's layer on the root plus the layers of what it
// requires (found among the combination's own components), by recipe. The builder composes from the answer; the api
// reads it to tell a person, before a build starts, which way it will go.
import type { PlannedComponent } from '../build-types.ts';
import type { Catalog } from '../catalog/catalog.ts';
import type { CompositionStore } from '../db/composition-store.ts';
import type { ComponentLayerRow, CompositionLayer } from '../db/schema/compositions.ts';
import { compositionKey, layerBases } from './layer-plan.ts';

/** A ready layer with what composition reads of it. */
export type ResolvedLayer = CompositionLayer & { row: ComponentLayerRow };

export type LayerResolution =
  | { kind: 'ready'; layers: ResolvedLayer[] }
  /** `missing`: the first component (in install order) without a ready layer, and the layers under it. */
  | { kind: 'missing'; missing: { component: PlannedComponent; base: ResolvedLayer[]; baseKey: string; row?: ComponentLayerRow } };

const asLayer = (row: ComponentLayerRow): ResolvedLayer => ({
  componentKey: row.componentKey,
  layerId: row.id,
  digest: row.digest!,
  diffId: row.diffId!,
  size: row.sizeBytes!,
  row,
});

export async function findLayers(
  store: Pick<CompositionStore, 'findLayer'>,
  catalog: Catalog,
  root: { imageId: string; diffIds: readonly string[] },
  components: readonly PlannedComponent[],
): Promise<LayerResolution> {
  const bases = layerBases(catalog, components);
  const ready = new Map<string, ResolvedLayer>();
  for (const c of components) {
    const base = (bases.get(c.key) ?? []).map((b) => ready.get(b.key)!);
    const baseKey = base.length === 0 ? '' : compositionKey(root.diffIds, base.map((b) => b.diffId));
    const row = await store.findLayer(root.imageId, c.key, c.recipeHash, baseKey);
    if (row?.status !== 'ready') return { kind: 'missing', missing: { component: c, base, baseKey, ...(row ? { row } : {}) } };
    ready.set(c.key, asLayer(row));
  }
  return { kind: 'ready', layers: components.map((c) => ready.get(c.key)!) };
}

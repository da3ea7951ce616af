// Which layers a combination is made of: each component's layer is built on the root plus the layers of what it
// requires (found among the combination's own components, so cuda on gcc@11 and cuda on gcc@12 are two layers), and
// the combination is named by the diffIDs of its root and layers. Pure.
import { createHash } from 'node:crypto';
import type { PlannedComponent } from '../build-types.ts';
import type { Catalog } from '../catalog/catalog.ts';

/** The combination's identity: the same root and layers (same bytes, same order) are the same combination. */
export function compositionKey(rootDiffIds: readonly string[], layerDiffIds: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify([rootDiffIds, layerDiffIds])).digest('hex');
}

/**
 * For each component (in canonical order), the components of the same combination its layer stands on: what it
 * requires, and what those require, in canonical order. A requirement the combination lacks cannot occur: the
 * resolver refuses such a combination.
 */
export function layerBases(catalog: Catalog, components: readonly PlannedComponent[]): Map<string, PlannedComponent[]> {
  const byName = new Map(components.map((c) => [c.name, c]));
  const bases = new Map<string, PlannedComponent[]>();
  const under = (c: PlannedComponent, seen: Set<string>): Set<string> => {
    const version = catalog.components.get(c.name)?.versions.get(c.version);
    for (const r of version?.requires ?? []) {
      const dep = byName.get(r.component);
      if (!dep || seen.has(dep.key)) continue;
      seen.add(dep.key);
      under(dep, seen);
    }
    return seen;
  };
  for (const c of components) {
    const keys = under(c, new Set());
    bases.set(c.key, components.filter((x) => keys.has(x.key)));
  }
  return bases;
}

/** Components of the combination the catalog marks not composable (their builds install). */
export function notComposable(catalog: Catalog, components: readonly PlannedComponent[]): string[] {
  return components.filter((c) => catalog.components.get(c.name)?.versions.get(c.version)?.composable === false).map((c) => c.key);
}

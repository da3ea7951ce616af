// A component's cost is what installing it really took: the median of its recent uncached install steps (robust to
// one slow mirror or one cold disk), falling back to the catalog's estimate until it has run. Pure.
import type { Catalog } from '../catalog/catalog.ts';

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function componentCosts(catalog: Catalog, samples: { component: string; seconds: number }[]): Map<string, number> {
  const byComponent = new Map<string, number[]>();
  for (const s of samples) byComponent.set(s.component, [...(byComponent.get(s.component) ?? []), s.seconds]);
  const costs = new Map<string, number>();
  for (const c of catalog.components.values()) {
    for (const v of c.versions.values()) {
      const seen = byComponent.get(v.key);
      costs.set(v.key, seen && seen.length > 0 ? median(seen) : v.costEstimateSeconds);
    }
  }
  return costs;
}

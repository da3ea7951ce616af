// A component's cost is what installing it really took here: the median of its recent uncached install steps, in
// builds and template builds alike (robust to one slow mirror or one cold disk). Until it has installed uncached at
// least once, the catalog's estimate stands in, and everything priced with it is reported as an estimate. Pure.
import type { Catalog } from '../catalog/catalog.ts';

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function componentCosts(catalog: Catalog, samples: { component: string; seconds: number }[]): Map<string, number> {
  const byComponent = new Map<string, number[]>();
  for (const s of samples) (byComponent.get(s.component) ?? byComponent.set(s.component, []).get(s.component)!).push(s.seconds);
  const costs = new Map<string, number>();
  for (const c of catalog.components.values()) {
    for (const v of c.versions.values()) {
      const seen = byComponent.get(v.key);
      costs.set(v.key, seen && seen.length > 0 ? median(seen) : v.costEstimateSeconds);
    }
  }
  return costs;
}

/** The components whose cost is a measurement here (the others' is the catalog's estimate). */
export const measuredComponents = (samples: readonly { component: string }[]): Set<string> => new Set(samples.map((s) => s.component));

// The one order in which components are installed in every Dockerfile kiln writes.
//
// Why a fixed order: Docker reuses a layer only when every instruction before it is identical, so two builds share
// work exactly as far as their Dockerfiles share a prefix. Sorting by the catalog's `rank` (then name) makes the
// order independent of how a request lists its components, so {jdk, openssl} and {openssl, jdk} are one Dockerfile.
// Ranks put heavy, slow-changing toolchains (CUDA, compilers) first and light libraries last: the expensive layers
// then sit in the longest shared prefix, and a request that adds a light library reuses the heavy layers before it.
// The loader also insists that a required component ranks below what requires it, so ranks respect dependencies.
import type { Catalog, ComponentVersion } from './catalog.ts';

export function canonicalOrder(components: ComponentVersion[], catalog: Catalog): ComponentVersion[] {
  const rank = (v: ComponentVersion) => catalog.components.get(v.name)?.rank ?? Number.MAX_SAFE_INTEGER;
  return [...components].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

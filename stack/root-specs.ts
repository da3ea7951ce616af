// Maps the catalog's roots to what the local stack must make available in the engine.
import { rootImageName } from '../core/build-planner.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import type { RootSpec } from './local-stack.ts';

export function rootSpecs(catalog: Catalog, imagePrefix: string): RootSpec[] {
  return [...catalog.roots.values()].map((r) => ({
    image: rootImageName(imagePrefix, r.name),
    ...(r.pull ? { pull: r.pull } : {}),
    debootstrap: r.debootstrap,
  }));
}

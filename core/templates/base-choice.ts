// Which ready template a build (or a bigger template) starts FROM: among ready templates of its root whose components
// it all wants, with the recipe hashes it resolved, the one that saves the most install time. Pure.
import type { PlanBase, PlannedComponent } from '../build-types.ts';
import { changedRecipes } from '../catalog/catalog.ts';
import { bestTemplateFor, type Costs } from './savings.ts';

export interface ReadyTemplate {
  id: string;
  root: string;
  imageRef: string;
  digest: string;
  components: PlannedComponent[];
  /** Its image's size, when known (what a builder without it pulls). */
  sizeBytes?: number | null;
}

/** `components` are what the build (or template) will contain; the result is what it should start FROM. */
/** `measured`: components whose cost was measured here; the rest of a saving is reported as an estimate. */
export function chooseBase(
  want: { root: string; rootImage: string; components: PlannedComponent[] },
  ready: readonly ReadyTemplate[],
  costs: Costs,
  measured: ReadonlySet<string> = new Set(),
): PlanBase {
  const hashes = new Map(want.components.map((c) => [c.key, c.recipeHash]));
  // A template built from another recipe than the build asks for would install something else: never a match.
  const current = ready
    .filter((t) => changedRecipes(t.components, hashes).length === 0)
    .map((t) => ({ ...t, components: t.components.map((c) => c.key), planned: t }));
  const best = bestTemplateFor({ root: want.root, components: [...hashes.keys()] }, current, costs);
  if (!best) return { kind: 'root', image: want.rootImage };
  return {
    kind: 'template',
    image: best.template.imageRef,
    digest: best.template.digest,
    templateId: best.template.id,
    covers: best.template.components,
    secondsSaved: best.saved,
    secondsSavedEstimated: best.template.components.filter((k) => !measured.has(k)).reduce((n, k) => n + (costs.get(k) ?? 0), 0),
  };
}

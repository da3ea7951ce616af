// What a build or a template build starts FROM, decided right before it runs: the ready template (of the same root,
// recipes and a subset of its components) that spares the most install time now, or the root. Choosing late means
// nothing starts from a template that went stale while it waited; the choice itself is core/templates/base-choice.ts.
import type { PlanBase, PlannedComponent } from '../core/build-types.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import type { TemplateStore } from '../core/db/template-store.ts';
import { chooseBase } from '../core/templates/base-choice.ts';
import { componentCosts, measuredComponents } from '../core/templates/component-costs.ts';
import { costOf } from '../core/templates/savings.ts';

export interface BaseResolver {
  /** `components`: what the image will hold; `exclude`: a template that must not be its own base. */
  choose(want: { root: string; rootImage: string; components: PlannedComponent[] }, exclude?: string): Promise<PlanBase>;
  /** Install seconds of these components now, and the part priced by the catalog's estimate (never measured here). */
  savings(keys: readonly string[]): Promise<{ seconds: number; estimated: number }>;
}

/** How many recent uncached install steps of a component its cost is the median of. */
const COST_SAMPLES = 20;

export function createBaseResolver(deps: { catalog: Catalog; templates: Pick<TemplateStore, 'ready' | 'costSamples'> }): BaseResolver {
  return {
    async choose(want, exclude) {
      const [ready, samples] = await Promise.all([deps.templates.ready(), deps.templates.costSamples(COST_SAMPLES)]);
      return chooseBase(want, exclude ? ready.filter((t) => t.id !== exclude) : ready, componentCosts(deps.catalog, samples), measuredComponents(samples));
    },
    async savings(keys) {
      const samples = await deps.templates.costSamples(COST_SAMPLES);
      const costs = componentCosts(deps.catalog, samples);
      const measured = measuredComponents(samples);
      return { seconds: costOf(keys, costs), estimated: costOf(keys.filter((k) => !measured.has(k)), costs) };
    },
  };
}

// What a build or a template build starts FROM, decided right before it runs: the ready template (of the same root,
// recipes and a subset of its components) that spares the most install time now, or the root. Choosing late means
// nothing starts from a template that went stale while it waited; the choice itself is core/templates/base-choice.ts.
import type { PlanBase, PlannedComponent } from '../core/build-types.ts';
import type { Catalog } from '../core/catalog/catalog.ts';
import type { TemplateStore } from '../core/db/template-store.ts';
import { chooseBase } from '../core/templates/base-choice.ts';
import { componentCosts, measuredComponents } from '../core/templates/component-costs.ts';

export interface BaseResolver {
  /** `components`: what the image will hold; `exclude`: a template that must not be its own base. */
  choose(want: { root: string; rootImage: string; components: PlannedComponent[] }, exclude?: string): Promise<PlanBase>;
}

/** How many recent uncached install steps of a component its cost is the median of. */
const COST_SAMPLES = 20;

export function createBaseResolver(deps: { catalog: Catalog; templates: Pick<TemplateStore, 'ready' | 'costSamples'> }): BaseResolver {
  return {
    async choose(want, exclude) {
      const [ready, samples] = await Promise.all([deps.templates.ready(), deps.templates.costSamples(COST_SAMPLES)]);
      return chooseBase(want, exclude ? ready.filter((t) => t.id !== exclude) : ready, componentCosts(deps.catalog, samples), measuredComponents(samples));
    },
  };
}

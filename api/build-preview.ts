// Which way a build of these components would go if it started now — composed from prebuilt layers, FROM a template,
// or installed — and why: what the form shows a person before they submit. The builder decides for real when the
// build starts (builder/build-route.ts); this reads the same records, so it says the same unless they change meanwhile.
import type { Catalog } from '../core/catalog/catalog.ts';
import { resolveComponents } from '../core/catalog/component-resolver.ts';
import { findLayers } from '../core/composition/layer-lookup.ts';
import { compositionKey, notComposable } from '../core/composition/layer-plan.ts';
import type { CompositionStore } from '../core/db/composition-store.ts';
import type { TemplateStore } from '../core/db/template-store.ts';
import type { RequestedRoute } from '../core/build-types.ts';
import type { RunRequest } from '../core/eta/estimate-types.ts';
import { ValidationError } from '../core/errors.ts';
import { chooseBase } from '../core/templates/base-choice.ts';
import { componentCosts } from '../core/templates/component-costs.ts';
import { costOf } from '../core/templates/savings.ts';

export interface BuildPreview {
  route: 'composed' | 'template' | 'install';
  reason: string;
  /** Canonical component keys, in install order. */
  components: string[];
  /** Install seconds the route spares (estimated from measured installs, else the catalog's estimates). */
  secondsSaved: number;
  template: { id: string; covers: string[]; sizeBytes: number | null } | null;
  /** composed: whether the combination is verified already (else its first build verifies it, once). */
  verified: boolean | null;
}

export interface BuildPreviewDeps {
  catalog: Catalog;
  compositions: Pick<CompositionStore, 'latestRoot' | 'findLayer' | 'composition'>;
  templates: Pick<TemplateStore, 'ready' | 'costSamples'>;
  composition: boolean;
  rootImagePrefix: string;
}

export function createBuildPreview(deps: BuildPreviewDeps) {
  /** `route`: as the build asks (install: never composed, as builder/build-route.ts decides). */
  return async (root: string, requested: string[], route: RequestedRoute = 'auto'): Promise<BuildPreview> => {
    const resolved = resolveComponents(deps.catalog, root, requested);
    const problems = [...(deps.catalog.roots.has(root) ? [] : [{ field: 'root', message: `unknown root "${root}"` }]), ...resolved.problems];
    if (problems.length > 0) throw new ValidationError(problems);
    const components = resolved.components.map((v) => ({ name: v.name, version: v.version, key: v.key, recipeHash: v.recipeHash }));
    const keys = components.map((c) => c.key);
    const costs = componentCosts(deps.catalog, await deps.templates.costSamples(20));

    const installed = async (why: string): Promise<BuildPreview> => {
      const base = chooseBase({ root, rootImage: `${deps.rootImagePrefix}:${root}`, components }, await deps.templates.ready(), costs);
      if (base.kind === 'template') {
        const sizeBytes = (await deps.templates.ready()).find((t) => t.id === base.templateId)?.sizeBytes ?? null;
        return {
          route: 'template',
          reason: `${why}; a ready template holds ${base.covers.join(' + ')}`,
          components: keys,
          secondsSaved: base.secondsSaved,
          template: { id: base.templateId, covers: base.covers, sizeBytes },
          verified: null,
        };
      }
      return { route: 'install', reason: why, components: keys, secondsSaved: 0, template: null, verified: null };
    };

    if (route === 'install') return installed('the build asks to install ("route": "install")');
    if (!deps.composition) return installed('composition is off');
    const marked = notComposable(deps.catalog, components);
    if (marked.length > 0) return installed(`${marked.join(', ')} ${marked.length > 1 ? 'are' : 'is'} marked not composable`);
    const rootRow = await deps.compositions.latestRoot(root);
    if (!rootRow) return installed('no component layer has been built yet');
    const composed = (reason: string, verified: boolean): BuildPreview => ({ route: 'composed', reason, components: keys, secondsSaved: costOf(keys, costs), template: null, verified });
    if (components.length === 0) return composed('the root and your binary, assembled in the registry', true);
    const layers = await findLayers(deps.compositions, deps.catalog, rootRow, components);
    if (layers.kind === 'missing') {
      const { component, row } = layers.missing;
      return installed(row?.status === 'failed' ? `the layer of ${component.key} failed to build` : `no layer of ${component.key} yet (the build queues it for next time)`);
    }
    const verdict = await deps.compositions.composition(compositionKey(rootRow.diffIds, layers.layers.map((l) => l.diffId)));
    if (verdict?.status === 'verified') return composed('every component has a prebuilt layer and the combination is verified', true);
    if (verdict?.status === 'conflict' || verdict?.status === 'failed') return installed(`the combination is not composable: ${verdict.error ?? verdict.status}`);
    return composed('every component has a prebuilt layer; the first build verifies the combination once', false);
  };
}

/** What the estimator is told about a build the preview describes. */
export const requestOfPreview = (root: string, p: BuildPreview, binaryBytes: number | null): RunRequest => ({
  route: p.route,
  root,
  components: p.components,
  covered: p.template?.covers ?? [],
  templateId: p.template?.id ?? null,
  templateBytes: p.template?.sizeBytes ?? null,
  verified: p.verified,
  binaryBytes,
});

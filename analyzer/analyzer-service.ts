// One analysis: read history and real costs, select the template set, act on it (build, keep, mark stale, retire,
// delete images past their grace period) and record what was decided and why.
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type Docker from 'dockerode';
import { resolveComponents } from '../core/catalog/component-resolver.ts';
import { changedRecipes, currentRecipeHashes, type Catalog } from '../core/catalog/catalog.ts';
import type { Config } from '../core/config.ts';
import type { TemplateStore } from '../core/db/template-store.ts';
import { kilnRepository } from '../core/kiln-repositories.ts';
import type { Logger } from '../core/logger.ts';
import { TEMPLATE_JOB, templateJobOptions, type TemplateJob } from '../core/queues.ts';
import type { RegistryClient } from '../core/registry-client.ts';
import { previousAnalysis, recordedHeld, type RecordedHeld } from './analysis-memory.ts';
import { defaultAnalysisOptions } from './analyzer-settings.ts';
import { componentCosts, measuredComponents } from '../core/templates/component-costs.ts';
import { demandBuilds, filterDemandHours } from '../core/templates/demand-hours.ts';
import { analyzeInWorker } from './analysis-worker.ts';
import { prebuildLayers, type LayerActionDeps } from './layer-actions.ts';
import { decideTemplates, type TemplateDecisions } from './template-lifecycle.ts';
import { setKey } from '../core/templates/savings.ts';

export interface AnalyzerDeps {
  catalog: Catalog;
  templates: TemplateStore;
  /** The build queue: template builds go through the same builders. */
  buildQueue: Pick<Queue<TemplateJob>, 'add'>;
  registry: Pick<RegistryClient, 'deleteManifest'>;
  docker: Pick<Docker, 'getImage'>;
  config: Pick<
    Config,
    | 'REGISTRY_HOST'
    | 'REGISTRY_PREFIX'
    | 'KILN_TEMPLATE_MAX'
    | 'KILN_TEMPLATE_MAX_BYTES'
    | 'KILN_TEMPLATE_MIN_SUPPORT'
    | 'KILN_TEMPLATE_MIN_SECONDS'
    | 'KILN_TEMPLATE_STORAGE_SECONDS_PER_GIB'
    | 'KILN_ANALYZER_WINDOW_DAYS'
    | 'KILN_TEMPLATE_GRACE_SECONDS'
    | 'KILN_BUILD_ATTEMPTS'
    | 'KILN_BUILD_BACKOFF_SECONDS'
    | 'KILN_LAYER_BUDGET_BYTES'
    | 'KILN_PREVERIFY_MAX'
  >;
  /** Composition's share of an analysis (layers to prebuild, combinations to verify ahead); absent: composition off. */
  layers?: LayerActionDeps;
  log: Logger;
  now?: () => Date;
}

export interface AnalyzerRunResult {
  runId: string;
  summary: string;
  decisions: TemplateDecisions & {
    costs: Record<string, number>;
    /** Components whose cost is still the catalog's estimate (never installed uncached here). */
    estimatedCosts: string[];
    /** The recency weighting chosen (half-life in days) and every weighting's validation score. */
    halfLifeDays: number;
    weightingScores: { halfLifeDays: number; score: number }[] | null;
    /** The analysis time: the next run charges held templates the rent of the time since. */
    analyzedAt: string;
    /** The templates (setKeys) this analysis would have chosen without the hold: what the next run charges it against. */
    choice: string[];
    /**
     * Templates kept only by the hold between runs (every analysis since `losingSince` wanted them dropped), what
     * keeping each has lost so far and what its rebuild costs (it goes when the first reaches the second): the next
     * run reads this, `analyzedAt` and `halfLifeDays` back (analyzer/analysis-memory.ts).
     */
    held: Record<string, RecordedHeld>;
    historyBuilds: number;
    imagesDeleted: string[];
    /** Composition: layers queued to build, combinations queued to verify, layers retired. */
    layers?: Awaited<ReturnType<typeof prebuildLayers>>;
  };
}

/** Templates are kiln's own images, outside every project's namespace. */
export const templateRepository = (config: Pick<Config, 'REGISTRY_PREFIX'>, root: string) => kilnRepository(config.REGISTRY_PREFIX, 'templates', root);

export function createAnalyzer(deps: AnalyzerDeps) {
  const now = deps.now ?? (() => new Date());
  const current = currentRecipeHashes(deps.catalog);

  const canonical = (root: string, keys: string[]) => {
    const r = resolveComponents(deps.catalog, root, keys);
    return r.components.map((v) => ({ name: v.name, version: v.version, key: v.key, recipeHash: v.recipeHash }));
  };

  return {
    async run(trigger: 'schedule' | 'manual'): Promise<AnalyzerRunResult> {
      const runId = randomUUID();
      await deps.templates.startRun(runId, trigger);
      const at = now();
      const since = new Date(at.getTime() - deps.config.KILN_ANALYZER_WINDOW_DAYS * 86400_000);
      // Only history still expressible in today's catalog counts (a removed component cannot be templated).
      const history = filterDemandHours(await deps.templates.demand(since), (c) => c.components.every((k) => current.has(k)));
      const builds = demandBuilds(history);
      const samples = await deps.templates.costSamples(20);
      const costs = componentCosts(deps.catalog, samples);
      const measured = measuredComponents(samples);
      const existing = await deps.templates.list();
      const previous = previousAnalysis(await deps.templates.lastFinishedRunDecisions());
      const builtKeys = new Set(
        existing
          .filter((t) => t.status === 'ready' && changedRecipes(t.components, current).length === 0)
          .map((t) => setKey(t.root, t.components.map((c) => c.key))),
      );
      const analysis = await analyzeInWorker(history, costs, {
        ...defaultAnalysisOptions(),
        now: at.getTime() / 1000,
        windowSeconds: deps.config.KILN_ANALYZER_WINDOW_DAYS * 86400,
        maxTemplates: deps.config.KILN_TEMPLATE_MAX,
        ...(deps.config.KILN_TEMPLATE_MAX_BYTES ? { maxBytes: deps.config.KILN_TEMPLATE_MAX_BYTES } : {}),
        minSupport: deps.config.KILN_TEMPLATE_MIN_SUPPORT,
        // Applies to costs as they stand: a component measured fast here is not promoted on its catalog estimate.
        minTemplateSeconds: deps.config.KILN_TEMPLATE_MIN_SECONDS,
        storageSecondsPerGiB: deps.config.KILN_TEMPLATE_STORAGE_SECONDS_PER_GIB,
        // Real sizes of the templates built so far, spread over their components, beat the default guess.
        sizes: componentSizes(existing),
        built: builtKeys,
        previous,
      });
      const selection = analysis.templates;
      const estimated = new Set([...costs.keys()].filter((k) => !measured.has(k)));
      const decisions = decideTemplates(selection.templates, existing, current, canonical, estimated);

      await deps.templates.markEnded(decisions.stale.map((s) => s.id), 'stale');
      await deps.templates.markEnded(decisions.retire.map((s) => s.id), 'retired');

      // Smaller templates first, so that a nested one finds its parent ready (its job waits for it otherwise).
      const planned = new Map<string, string>();
      for (const b of [...decisions.build].sort((x, y) => x.components.length - y.components.length)) {
        const id = randomUUID();
        planned.set(b.key, id);
        await deps.templates.insertBuilding({
          id,
          root: b.root,
          componentKey: b.components.map((c) => c.key).join('+'),
          components: b.components,
          imageRef: `${deps.config.REGISTRY_HOST}/${templateRepository(deps.config, b.root)}:${id}`,
        });
        await deps.buildQueue.add(
          TEMPLATE_JOB,
          { templateId: id },
          templateJobOptions(id, { attempts: deps.config.KILN_BUILD_ATTEMPTS, backoffSeconds: deps.config.KILN_BUILD_BACKOFF_SECONDS }),
        );
      }

      // Measured after this run's own retirements, so that a grace period of 0 means at once.
      const graceCutoff = new Date(now().getTime() - deps.config.KILN_TEMPLATE_GRACE_SECONDS * 1000);
      const imagesDeleted = await deleteExpiredImages(deps, graceCutoff);
      const layers = deps.layers
        ? await prebuildLayers(deps.layers, {
            history,
            now: at.getTime() / 1000,
            halfLifeSeconds: analysis.halfLife,
            ...(deps.config.KILN_LAYER_BUDGET_BYTES ? { budgetBytes: deps.config.KILN_LAYER_BUDGET_BYTES } : {}),
            preverifyMax: deps.config.KILN_PREVERIFY_MAX,
            graceCutoff,
          })
        : undefined;
      const summary =
        `${builds} builds in ${deps.config.KILN_ANALYZER_WINDOW_DAYS} days, ${selection.candidates} candidates, half-life ${+(analysis.halfLife / 86400).toFixed(2)} d: ` +
        `keep ${decisions.keep.length}, build ${decisions.build.length}, stale ${decisions.stale.length}, retire ${decisions.retire.length}` +
        (decisions.skip.length ? `, skip ${decisions.skip.length}` : '') +
        (layers ? `; layers: build ${layers.build.length}, verify ${layers.verify.length}, retire ${layers.stale.length}` : '') +
        `; objective ${Math.round(selection.objective)} s of ${Math.round(selection.weightedTotalSeconds)} s weighted install time`;
      const recorded = {
        ...decisions,
        costs: Object.fromEntries(costs),
        estimatedCosts: [...estimated].sort(),
        halfLifeDays: analysis.halfLife / 86400,
        weightingScores: analysis.scores?.map((s) => ({ halfLifeDays: s.halfLife / 86400, score: s.score })) ?? null,
        analyzedAt: at.toISOString(),
        choice: analysis.choice,
        held: recordedHeld(analysis.held),
        historyBuilds: builds,
        imagesDeleted,
        ...(layers ? { layers } : {}),
      };
      await deps.templates.finishRun(runId, recorded, summary);
      deps.log.info({ runId, trigger, summary }, 'analysis done');
      return { runId, summary, decisions: recorded };
    },
  };
}

/** Estimated bytes per component from built templates (a template's size over its components, by install cost). */
function componentSizes(existing: readonly { components: { key: string }[]; sizeBytes: number | null; parentId: string | null }[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const t of existing) {
    // Templates built from the root only: their image size covers exactly their own components (plus the root).
    if (!t.sizeBytes || t.parentId || t.components.length === 0) continue;
    for (const c of t.components) sizes.set(c.key, Math.max(sizes.get(c.key) ?? 0, t.sizeBytes / t.components.length));
  }
  return sizes;
}

/** Retired and stale templates keep their image for a grace period (a build may be pulling it), then lose it. */
async function deleteExpiredImages(deps: AnalyzerDeps, cutoff: Date): Promise<string[]> {
  const deleted: string[] = [];
  for (const t of await deps.templates.endedWithImageBefore(cutoff)) {
    const repository = t.imageRef.slice(deps.config.REGISTRY_HOST.length + 1, t.imageRef.lastIndexOf(':'));
    try {
      await deps.registry.deleteManifest(repository, t.digest!);
      await deps.docker.getImage(t.imageRef).remove({ force: true }).catch(() => undefined);
      await deps.templates.markImageDeleted(t.id);
      deleted.push(t.imageRef);
    } catch (err) {
      // Left for the next run: the registry may be briefly away.
      deps.log.warn({ err, templateId: t.id }, 'could not delete a retired template image');
    }
  }
  return deleted;
}

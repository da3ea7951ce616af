// One trace's table: every policy at one template budget, template-only and with the layer cache at equal storage,
// beside the daily clairvoyant heuristic and the proven ceiling. Shared by the bench and its unit test.
import { defaultAnalysisOptions } from '../../analyzer/analyzer-settings.ts';
import type { Costs, HistoryBuild } from '../../core/templates/savings.ts';
import { lpCeiling } from './ceiling.ts';
import type { LayerCacheOptions } from './layer-cache.ts';
import { periods, policies, replay, type ReplayOptions, type ReplayResult } from './trace-replay.ts';
import { costOf } from '../../core/templates/savings.ts';

export interface TableOptions {
  maxTemplates: number;
  periodSeconds: number;
  windowSeconds: number;
  /** Leading periods that are every policy's history and nobody's score (see ReplayOptions). */
  warmupPeriods: number;
  /** Storage per host, bytes, for each size the layer-cache rows are run at. */
  storageSizes: number[];
  hosts: number;
  /** Share of each host's storage kiln may give templates (the rest is its layer cache). */
  templateShare: number;
  sizes: ReadonlyMap<string, number>;
  analysis?: ReplayOptions['analysis'];
}

export interface PolicyTable {
  templatesOnly: { none: ReplayResult; topK: ReplayResult; greedy: ReplayResult; kiln: ReplayResult; clairvoyant: ReplayResult };
  ceiling: number;
  ceilingSeconds: number;
  /**
   * A proven bound for the rows with a layer cache (which the template-only LP does not bound: the cache also spares
   * installs): every scored install spared, except one install of each component no warm-up build had installed —
   * whatever the policy, that component is installed once after the warm-up (by a build, or by a template's build).
   */
  cacheCeiling: number;
  storage: { bytesPerHost: number; layerCache: ReplayResult; kiln: ReplayResult }[];
}

export async function policyTable(trace: readonly HistoryBuild[], costs: Costs, o: TableOptions): Promise<PolicyTable> {
  const opts: ReplayOptions = { periodSeconds: o.periodSeconds, windowSeconds: o.windowSeconds, warmupPeriods: o.warmupPeriods, maxTemplates: o.maxTemplates, analysis: o.analysis ?? { ...defaultAnalysisOptions(), sizes: o.sizes } };
  const run = (name: string, p: (c: Costs, r: ReplayOptions) => Parameters<typeof replay>[3], r = opts, cache?: LayerCacheOptions) => replay(name, trace, costs, p(costs, r), r, cache);
  const templatesOnly = {
    none: run('no templates', () => policies.none()),
    topK: run(`top-${o.maxTemplates} most frequent`, () => policies.topK(o.maxTemplates)),
    greedy: run('plain greedy', policies.greedy),
    kiln: run('kiln', policies.kiln),
    clairvoyant: run('daily clairvoyant heuristic', policies.clairvoyant),
  };
  const started = performance.now();
  const ceiling = await lpCeiling(trace, costs, { periodSeconds: o.periodSeconds, maxTemplates: o.maxTemplates, warmupPeriods: o.warmupPeriods });
  const ceilingSeconds = (performance.now() - started) / 1000;
  const storage = o.storageSizes.map((bytesPerHost) => {
    const cache: LayerCacheOptions = { hosts: o.hosts, bytesPerHost, sizes: o.sizes, defaultSizeBytes: 512 * 1024 ** 2, binaryBytes: 100 * 1024 ** 2 };
    return {
      bytesPerHost,
      layerCache: run('layer cache only', () => policies.none(), opts, cache),
      kiln: run('kiln + layer cache', policies.kiln, { ...opts, maxBytes: o.templateShare * bytesPerHost }, cache),
    };
  });
  return { templatesOnly, ceiling, ceilingSeconds, cacheCeiling: cacheCeiling(trace, costs, o), storage };
}

export function cacheCeiling(trace: readonly HistoryBuild[], costs: Costs, o: Pick<TableOptions, 'periodSeconds' | 'warmupPeriods'>): number {
  const ps = periods(trace, o.periodSeconds);
  const installed = new Set(ps.slice(0, o.warmupPeriods).flatMap((p) => p.builds.flatMap((b) => b.components)));
  let total = 0;
  const forced = new Set<string>();
  for (const p of ps.slice(o.warmupPeriods)) {
    for (const b of p.builds) {
      total += costOf(b.components, costs);
      for (const k of b.components) if (!installed.has(k)) forced.add(k);
    }
  }
  return total - costOf([...forced], costs);
}

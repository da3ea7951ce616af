// Turns a selection into actions on the template fleet: keep, build (nested FROM a chosen smaller one), mark stale
// (a recipe changed), retire (no longer pays). Each action carries its reason, which the analyzer run records. Pure.
import type { PlannedComponent } from '../core/build-types.ts';
import { changedRecipes } from '../core/catalog/catalog.ts';
import type { TemplateRow } from '../core/db/schema/templates.ts';
import type { ChosenTemplate } from './template-selector.ts';
import { setKey } from '../core/templates/savings.ts';

export interface TemplateDecisions {
  keep: { id: string; key: string; reason: string }[];
  build: { key: string; root: string; components: PlannedComponent[]; parentKey?: string; reason: string }[];
  stale: { id: string; key: string; reason: string }[];
  retire: { id: string; key: string; reason: string }[];
  skip: { key: string; reason: string }[];
}

const rowKey = (t: Pick<TemplateRow, 'root' | 'components'>) => setKey(t.root, t.components.map((c) => c.key));
const fmt = (s: number) => `${Math.round(s)} s`;

/**
 * `current` maps each component key in the catalog to its recipe hash now; `canonical` orders keys into planned
 * components (with hashes) the way builds install them.
 */
export function decideTemplates(
  selection: readonly ChosenTemplate[],
  existing: readonly TemplateRow[],
  current: ReadonlyMap<string, string>,
  canonical: (root: string, components: string[]) => PlannedComponent[],
  /** Components whose cost is still the catalog's estimate: a reason resting on them says so. */
  estimated: ReadonlySet<string> = new Set(),
): TemplateDecisions {
  const d: TemplateDecisions = { keep: [], build: [], stale: [], retire: [], skip: [] };
  const isCurrent = (t: TemplateRow) => changedRecipes(t.components, current).length === 0;
  const live = existing.filter((t) => t.status === 'ready' || t.status === 'building');

  for (const t of live.filter((t) => !isCurrent(t))) {
    d.stale.push({ id: t.id, key: rowKey(t), reason: `recipe changed for ${changedRecipes(t.components, current).join(', ')}` });
  }
  const liveCurrent = new Map(live.filter(isCurrent).map((t) => [rowKey(t), t]));
  const chosen = new Set(selection.map((s) => s.key));

  for (const s of selection) {
    const guessed = s.components.filter((k) => estimated.has(k));
    const why =
      `serves ~${s.weightedHits.toFixed(1)} weighted builds, saving ${fmt(s.weightedSeconds)} against a cost of ${fmt(s.cost)}` +
      (guessed.length ? ` (estimated: the catalog's cost for ${guessed.join(', ')}, never measured installing here)` : ' (measured costs)');
    const have = liveCurrent.get(s.key);
    if (have) {
      // A held template would be dropped by this analysis alone; the reason says so, and since when.
      const held = s.held
        ? `held: every analysis since ${new Date(s.held.since * 1000).toISOString()} would drop it, keeping it has lost ${s.held.lostSeconds.toFixed(0)} s of the ${s.held.rebuildSeconds.toFixed(0)} s a rebuild costs; `
        : '';
      d.keep.push({ id: have.id, key: s.key, reason: `${have.status}; ${held}${why}` });
      continue;
    }
    const components = canonical(s.root, s.components);
    const failedBefore = existing.find(
      (t) => t.status === 'failed' && rowKey(t) === s.key && isCurrent(t),
    );
    if (failedBefore) {
      d.skip.push({ key: s.key, reason: `a template of these recipes failed to build (${failedBefore.error ?? 'unknown error'}); fix the recipe first` });
      continue;
    }
    d.build.push({ key: s.key, root: s.root, components, ...(s.parent ? { parentKey: s.parent } : {}), reason: why });
  }

  for (const [key, t] of liveCurrent) {
    if (!chosen.has(key) && t.status === 'ready') {
      d.retire.push({ id: t.id, key, reason: `no longer pays: recent builds it would serve save less than it costs to keep (hits so far: ${t.hits})` });
    }
  }
  return d;
}

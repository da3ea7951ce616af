// What templates saved over a window, per template and in total, and per day (for the form's plot). Savings priced by
// the catalog's estimate (components never measured installing here) are kept apart from measured ones, and beside
// them stand the observed build durations with and without each template. Pure.

export interface FinishedBuild {
  templateId: string | null;
  secondsSaved: number | null;
  /** Of secondsSaved, the part priced by catalog estimates. */
  secondsSavedEstimated: number | null;
  /** Assembled from prebuilt layers (composition): no install step at all. */
  composed: boolean;
  /** Install seconds the engine's layer cache spared it (cached steps), and the part priced by catalog estimates. */
  secondsSavedCache?: number | null;
  secondsSavedCacheEstimated?: number | null;
  /** Component keys the build installed (its template's included). */
  components: string[];
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface TemplateStats {
  windowDays: number;
  builds: number;
  buildsWithTemplate: number;
  hitRate: number;
  /** Measured plus estimated. */
  secondsSaved: number;
  secondsSavedMeasured: number;
  secondsSavedEstimated: number;
  /** Composition: builds assembled from prebuilt layers, and the install seconds they did not spend. */
  buildsComposed: number;
  secondsSavedComposed: number;
  secondsSavedComposedEstimated: number;
  /** The engine's layer cache: builds it answered at least one install step of, and the install seconds it spared. */
  buildsCached: number;
  secondsSavedCache: number;
  secondsSavedCacheEstimated: number;
  perTemplate: {
    templateId: string;
    hits: number;
    secondsSaved: number;
    secondsSavedMeasured: number;
    secondsSavedEstimated: number;
    /** Mean observed duration (started → finished) of its hits, and of builds wanting all its components without it. */
    meanSecondsWith: number | null;
    meanSecondsWithout: number | null;
    buildsWithout: number;
  }[];
  perDay: { day: string; builds: number; withTemplate: number; secondsSaved: number; avgSecondsWithTemplate: number | null; avgSecondsWithout: number | null }[];
}

const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const durationOf = (b: FinishedBuild) => (b.startedAt && b.finishedAt ? (b.finishedAt.getTime() - b.startedAt.getTime()) / 1000 : undefined);

/** `templates`: each template's component keys, so builds that wanted it but ran without it can be found. */
export function templateStats(builds: readonly FinishedBuild[], windowDays: number, templates: readonly { id: string; components: string[] }[] = []): TemplateStats {
  const per = new Map<string, { hits: number; secondsSaved: number; estimated: number; withT: number[] }>();
  const days = new Map<string, { builds: number; withTemplate: number; secondsSaved: number; withT: number[]; without: number[] }>();
  let withTemplate = 0;
  let saved = 0;
  let estimated = 0;
  const composition = { builds: 0, saved: 0, estimated: 0 };
  const cache = { builds: 0, saved: 0, estimated: 0 };
  for (const b of builds) {
    if ((b.secondsSavedCache ?? 0) > 0) {
      cache.builds++;
      cache.saved += b.secondsSavedCache ?? 0;
      cache.estimated += b.secondsSavedCacheEstimated ?? 0;
    }
    const day = (b.finishedAt ?? new Date(0)).toISOString().slice(0, 10);
    const d = days.get(day) ?? days.set(day, { builds: 0, withTemplate: 0, secondsSaved: 0, withT: [], without: [] }).get(day)!;
    d.builds++;
    const duration = durationOf(b);
    if (b.composed) {
      composition.builds++;
      composition.saved += b.secondsSaved ?? 0;
      composition.estimated += b.secondsSavedEstimated ?? 0;
    } else if (b.templateId) {
      withTemplate++;
      saved += b.secondsSaved ?? 0;
      estimated += b.secondsSavedEstimated ?? 0;
      d.withTemplate++;
      d.secondsSaved += b.secondsSaved ?? 0;
      if (duration !== undefined) d.withT.push(duration);
      const p = per.get(b.templateId) ?? per.set(b.templateId, { hits: 0, secondsSaved: 0, estimated: 0, withT: [] }).get(b.templateId)!;
      p.hits++;
      p.secondsSaved += b.secondsSaved ?? 0;
      p.estimated += b.secondsSavedEstimated ?? 0;
      if (duration !== undefined) p.withT.push(duration);
    } else if (duration !== undefined) d.without.push(duration);
  }
  const without = (components: string[]) =>
    builds.filter((b) => !b.templateId && !b.composed && components.every((k) => b.components.includes(k))).map(durationOf).filter((x): x is number => x !== undefined);
  return {
    windowDays,
    builds: builds.length,
    buildsWithTemplate: withTemplate,
    hitRate: builds.length ? withTemplate / builds.length : 0,
    secondsSaved: saved,
    secondsSavedMeasured: saved - estimated,
    secondsSavedEstimated: estimated,
    buildsComposed: composition.builds,
    secondsSavedComposed: composition.saved,
    secondsSavedComposedEstimated: composition.estimated,
    buildsCached: cache.builds,
    secondsSavedCache: cache.saved,
    secondsSavedCacheEstimated: cache.estimated,
    perTemplate: [...per.entries()]
      .map(([templateId, v]) => {
        const other = without(templates.find((t) => t.id === templateId)?.components ?? []);
        return {
          templateId,
          hits: v.hits,
          secondsSaved: v.secondsSaved,
          secondsSavedMeasured: v.secondsSaved - v.estimated,
          secondsSavedEstimated: v.estimated,
          meanSecondsWith: avg(v.withT),
          meanSecondsWithout: avg(other),
          buildsWithout: other.length,
        };
      })
      .sort((a, b) => b.secondsSaved - a.secondsSaved),
    perDay: [...days.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([day, d]) => ({ day, builds: d.builds, withTemplate: d.withTemplate, secondsSaved: d.secondsSaved, avgSecondsWithTemplate: avg(d.withT), avgSecondsWithout: avg(d.without) })),
  };
}

// What templates saved over a window, per template and in total, and per day (for the form's plot). Pure.

export interface FinishedBuild {
  templateId: string | null;
  secondsSaved: number | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface TemplateStats {
  windowDays: number;
  builds: number;
  buildsWithTemplate: number;
  hitRate: number;
  secondsSaved: number;
  perTemplate: { templateId: string; hits: number; secondsSaved: number }[];
  perDay: { day: string; builds: number; withTemplate: number; secondsSaved: number; avgSecondsWithTemplate: number | null; avgSecondsWithout: number | null }[];
}

const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export function templateStats(builds: readonly FinishedBuild[], windowDays: number): TemplateStats {
  const per = new Map<string, { hits: number; secondsSaved: number }>();
  const days = new Map<string, { builds: number; withTemplate: number; secondsSaved: number; withT: number[]; without: number[] }>();
  let withTemplate = 0;
  let saved = 0;
  for (const b of builds) {
    const day = (b.finishedAt ?? new Date(0)).toISOString().slice(0, 10);
    const d = days.get(day) ?? { builds: 0, withTemplate: 0, secondsSaved: 0, withT: [], without: [] };
    days.set(day, d);
    d.builds++;
    const duration = b.startedAt && b.finishedAt ? (b.finishedAt.getTime() - b.startedAt.getTime()) / 1000 : undefined;
    if (b.templateId) {
      withTemplate++;
      saved += b.secondsSaved ?? 0;
      d.withTemplate++;
      d.secondsSaved += b.secondsSaved ?? 0;
      if (duration !== undefined) d.withT.push(duration);
      const p = per.get(b.templateId) ?? { hits: 0, secondsSaved: 0 };
      p.hits++;
      p.secondsSaved += b.secondsSaved ?? 0;
      per.set(b.templateId, p);
    } else if (duration !== undefined) d.without.push(duration);
  }
  return {
    windowDays,
    builds: builds.length,
    buildsWithTemplate: withTemplate,
    hitRate: builds.length ? withTemplate / builds.length : 0,
    secondsSaved: saved,
    perTemplate: [...per.entries()].map(([templateId, v]) => ({ templateId, ...v })).sort((a, b) => b.secondsSaved - a.secondsSaved),
    perDay: [...days.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([day, d]) => ({ day, builds: d.builds, withTemplate: d.withTemplate, secondsSaved: d.secondsSaved, avgSecondsWithTemplate: avg(d.withT), avgSecondsWithout: avg(d.without) })),
  };
}

// The analyzer's memory between runs: what one analysis hands the next (the half-life it chose, since when each held
// template has been losing) lives in the decisions the last finished analyzer run recorded. Read back defensively: a
// run recorded before this existed, or by another version, gives an empty memory, which is what a first run has.
import { z } from 'zod';
import type { AnalysisState } from './analysis.ts';

const recorded = z.object({
  halfLifeDays: z.number().positive().finite().optional(),
  losingSince: z.record(z.string(), z.string().datetime()).optional(),
});

/** The previous analysis's state from its recorded decisions (unknown JSON from the database). */
export function previousAnalysis(decisions: unknown): AnalysisState {
  const parsed = recorded.safeParse(decisions);
  if (!parsed.success) return {};
  const { halfLifeDays, losingSince } = parsed.data;
  return {
    ...(halfLifeDays === undefined ? {} : { halfLife: halfLifeDays * 86400 }),
    ...(losingSince ? { losingSince: Object.fromEntries(Object.entries(losingSince).map(([key, at]) => [key, Date.parse(at) / 1000])) } : {}),
  };
}

/** The losing clocks as a run records them (ISO times, readable in GET /v1/analyzer/runs). */
export const recordedLosingSince = (losingSince: Readonly<Record<string, number>>): Record<string, string> =>
  Object.fromEntries(Object.entries(losingSince).map(([key, t]) => [key, new Date(t * 1000).toISOString()]));

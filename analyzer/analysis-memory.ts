// The analyzer's memory between runs: what one analysis hands the next (when it ran, the half-life it chose, what it
// would have chosen without the hold, and for each held template since when it has been losing and what keeping it has
// lost) lives in the decisions the last
// finished analyzer run recorded. Read back defensively: a run recorded before this existed, or by another version,
// gives an empty memory (or the part it can read), which is what a first run has.
import { z } from 'zod';
import type { AnalysisState, Held } from './analysis.ts';

const seconds = z.number().nonnegative().finite();
const recorded = z.object({
  analyzedAt: z.string().datetime().optional(),
  halfLifeDays: z.number().positive().finite().optional(),
  choice: z.array(z.string()).optional(),
  held: z.record(z.string(), z.object({ losingSince: z.string().datetime(), lostSeconds: seconds, rebuildSeconds: seconds })).optional(),
});

/** The previous analysis's state from its recorded decisions (unknown JSON from the database). */
export function previousAnalysis(decisions: unknown): AnalysisState {
  const parsed = recorded.safeParse(decisions);
  if (!parsed.success) return {};
  const { analyzedAt, halfLifeDays, choice, held } = parsed.data;
  return {
    ...(analyzedAt === undefined ? {} : { at: Date.parse(analyzedAt) / 1000 }),
    ...(halfLifeDays === undefined ? {} : { halfLife: halfLifeDays * 86400 }),
    ...(choice === undefined ? {} : { choice }),
    ...(held
      ? { held: Object.fromEntries(Object.entries(held).map(([key, h]) => [key, { since: Date.parse(h.losingSince) / 1000, lostSeconds: h.lostSeconds, rebuildSeconds: h.rebuildSeconds }])) }
      : {}),
  };
}

/** The hold as a run records it (ISO times, readable in GET /v1/analyzer/runs). */
export interface RecordedHeld {
  losingSince: string;
  lostSeconds: number;
  rebuildSeconds: number;
}
export const recordedHeld = (held: Readonly<Record<string, Held>>): Record<string, RecordedHeld> =>
  Object.fromEntries(
    Object.entries(held).map(([key, h]) => [key, { losingSince: new Date(h.since * 1000).toISOString(), lostSeconds: Math.round(h.lostSeconds * 1000) / 1000, rebuildSeconds: h.rebuildSeconds }]),
  );

// The analyzer's tuning, in one place: the service and the trace replay both start from these. The bench prints how
// the result moves when each of them is halved or doubled (`npm run bench:analyzer -- --sensitivity`).
import type { AnalysisOptions } from './analysis.ts';

const DAY = 86400;

export function defaultAnalysisOptions(): Omit<AnalysisOptions, 'now' | 'maxTemplates' | 'built' | 'windowSeconds'> {
  return {
    // Team needs drift: the analysis forgets at whichever of these speeds would have served the last two days best.
    halfLives: [1, 2, 4, 7, 14, 28].map((d) => d * DAY),
    // Until there is enough history to compare them: a build from two weeks ago counts half as much as one today.
    defaultHalfLife: 14 * DAY,
    validationSeconds: DAY / 2,
    validationWindows: 4,
    validationDiscount: 0.5,
    // A template a build wanted this past week is not dropped unless the change also pays for building it again.
    hysteresisSeconds: 7 * DAY,
    // Between hourly runs: the half-life changes only for a validation score 5 % better than the current one's (chosen
    // on two traces, seeds 7 and 101), and a built template the selection wants gone is kept until keeping it has lost
    // as many install seconds as building it again costs (rent or buy: no constant to tune). Checked on held-out traces
    // (`npm run bench:analyzer -- --hourly`, `-- --hourly-sensitivity`).
    halfLifeMargin: 0.05,
    holdRebuilds: 1,
    // ... between runs less than a day apart (the service's hourly cadence); runs a day apart drop a loser at once.
    holdWithinSeconds: DAY,
    // Keeping a GiB of template around is charged like 60 s of installing, per analysis horizon.
    storageSecondsPerGiB: 60,
    sizes: new Map(),
    defaultSizeBytes: 512 * 1024 ** 2,
    // A template must serve at least ~2 recent builds, and save at least 2 minutes each, to be worth a base image.
    minSupport: 2,
    minTemplateSeconds: 120,
    swapPasses: 2,
    swapCandidates: 100,
    maxCandidates: 4000,
  };
}

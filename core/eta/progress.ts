// Where a running build is and how long it has left: its estimated steps (estimator.ts) matched with what its builder
// reports (core/live-progress.ts). A step that runs over its estimate is given a little more time (a tenth of the
// longer of its estimate and its time so far), so the bar keeps moving and never claims to be done early; once an
// install step really installed, the steps after it cannot come from the layer cache and are priced as installs. Pure.
import type { StepKind } from '../db/schema/builds.ts';
import type { LiveProgress } from '../live-progress.ts';
import type { EstimatedStep, RunEstimate } from './estimate-types.ts';

export type StepStatus = 'done' | 'running' | 'pending' | 'skipped';

export interface ProgressStep {
  kind: StepKind;
  component: string;
  status: StepStatus;
  /** Seconds it took (done) or has taken so far (running). */
  seconds: number | null;
  estimatedSeconds: number;
}

export interface RunProgress {
  elapsedSeconds: number;
  remainingSeconds: number;
  remainingLow: number;
  remainingHigh: number;
  /** Share of the run behind it, by time: elapsed / (elapsed + remaining). */
  fraction: number;
  currentStep: { kind: StepKind; component: string; index: number; total: number; elapsedSeconds: number } | null;
  steps: ProgressStep[];
}

/** What a step still needs after `elapsed` seconds of it. */
export const leftOf = (estimate: number, elapsed: number) => Math.max(estimate - elapsed, 0.1 * Math.max(estimate, elapsed));

/** `now`: epoch ms. `live`: null before the builder reported anything (then nothing is done yet). */
export function runProgress(run: RunEstimate, live: LiveProgress | null, startedAt: number, now: number): RunProgress {
  const elapsed = Math.max(0, (now - startedAt) / 1000);
  const done = new Map((live?.done ?? []).map((d) => [d.component, d]));
  const current = live?.current ?? null;
  // The furthest estimated step the builder has reached: steps before it that it never reported did not happen.
  const reached = run.steps.reduce((at, s, i) => (done.has(s.component) || current?.component === s.component ? i : at), -1);
  const installedBefore = (i: number) => run.steps.slice(0, i).some((s) => done.get(s.component)?.kind === 'install' && s.component !== 'binary');

  const steps: ProgressStep[] = run.steps.map((s, i) => {
    const d = done.get(s.component);
    const estimatedSeconds = priced(s, installedBefore(i));
    if (d) return { kind: d.kind, component: s.component, status: 'done', seconds: d.seconds, estimatedSeconds };
    if (current?.component === s.component) return { kind: current.kind, component: s.component, status: 'running', seconds: Math.max(0, (now - current.since) / 1000), estimatedSeconds };
    if (s.kind === 'layer' && live) return { kind: s.kind, component: s.component, status: 'done', seconds: 0, estimatedSeconds: 0 };
    return { kind: s.kind, component: s.component, status: i < reached ? 'skipped' : 'pending', seconds: null, estimatedSeconds };
  });
  let remaining = 0;
  for (const s of steps) {
    if (s.status === 'running') remaining += leftOf(s.estimatedSeconds, s.seconds ?? 0);
    else if (s.status === 'pending') remaining += s.estimatedSeconds;
  }
  const runningIndex = steps.findIndex((s) => s.status === 'running');
  const spread = (bound: number) => (run.seconds > 0 ? bound / run.seconds : 1);
  return {
    elapsedSeconds: elapsed,
    remainingSeconds: remaining,
    remainingLow: remaining * Math.min(1, spread(run.low)),
    remainingHigh: remaining * Math.max(1, spread(run.high)),
    fraction: elapsed + remaining > 0 ? elapsed / (elapsed + remaining) : 0,
    currentStep:
      runningIndex < 0
        ? null
        : { kind: steps[runningIndex]!.kind, component: steps[runningIndex]!.component, index: runningIndex + 1, total: steps.length, elapsedSeconds: steps[runningIndex]!.seconds ?? 0 },
    steps,
  };
}

/** A step's expected seconds as things stand: an install after a real install cannot be cached; a pull may not happen. */
function priced(s: EstimatedStep, afterInstall: boolean): number {
  if (s.coldSeconds !== undefined && afterInstall) return s.coldSeconds;
  if (s.chance !== undefined) return s.seconds * s.chance;
  return s.seconds;
}

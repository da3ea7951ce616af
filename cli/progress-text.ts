// What `kiln build --wait` says about a build while it waits: one line, as a bar for a terminal or as words for a log
// file. Pure.
import { duration, estimateText, ordinal } from '../core/duration-text.ts';
import { stepText } from '../core/eta/step-words.ts';
import type { BuildProgressView } from '../api/eta-service.ts';

export interface ProgressState {
  id: string;
  status: string;
  queuePosition?: number | null;
  progress?: Pick<BuildProgressView, 'elapsedSeconds' | 'remainingSeconds' | 'remainingLow' | 'remainingHigh' | 'fraction' | 'queueSeconds' | 'currentStep'> | null;
}

/** The words: status, place or step, time so far, time left. */
export function progressWords(b: ProgressState): string {
  const p = b.progress;
  const parts = [b.status];
  if (b.status === 'queued') {
    if (b.queuePosition) parts.push(`${ordinal(b.queuePosition)} in the queue`);
    if (p?.queueSeconds) parts.push(`starts in ${duration(p.queueSeconds)}`);
  } else if (p?.currentStep) {
    parts.push(`step ${p.currentStep.index}/${p.currentStep.total}: ${stepText(p.currentStep)}`);
  }
  if (p && b.status === 'running') parts.push(`${duration(p.elapsedSeconds)} so far`);
  if (p?.remainingSeconds !== null && p?.remainingSeconds !== undefined && !['succeeded', 'failed', 'canceled'].includes(b.status)) {
    parts.push(
      p.remainingLow !== null && p.remainingHigh !== null
        ? `${estimateText({ seconds: p.remainingSeconds, low: p.remainingLow, high: p.remainingHigh })} left`
        : `about ${duration(p.remainingSeconds)} left`,
    );
  }
  return parts.join(' · ');
}

/** A bar and the words, fitted to `columns`. */
export function progressBar(b: ProgressState, columns: number): string {
  const width = Math.max(10, Math.min(30, Math.floor(columns / 4)));
  const fraction = Math.max(0, Math.min(1, b.progress?.fraction ?? 0));
  const full = Math.round(fraction * width);
  const bar = `[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const line = `${bar} ${progressWords(b)}`;
  return line.length > columns - 1 ? `${line.slice(0, Math.max(0, columns - 2))}…` : line;
}

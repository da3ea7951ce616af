// The templates page's two charts (uPlot: small, canvas-based), sized to their container.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { DailyBuildStats } from './api.ts';
import { duration, h } from './dom.ts';

const dayStart = (day: string) => Date.parse(`${day}T00:00:00Z`) / 1000;
/** Tick steps in seconds that read well as durations (10 s, 2 min, 1 h…). */
const durationSteps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800];

function chart(target: HTMLElement, series: uPlot.Series[], data: uPlot.AlignedData, signal: AbortSignal): uPlot {
  const size = () => ({ width: Math.max(260, target.clientWidth), height: target.clientWidth < 500 ? 200 : 240 });
  const plot = new uPlot(
    {
      ...size(),
      series: [{ label: 'Day', value: (_u, v) => (v === null ? '—' : new Date(v * 1000).toISOString().slice(0, 10)) }, ...series],
      scales: {
        // Half a day of room on each side, so the first and last days' bars are whole.
        x: { time: true, range: (_u, min, max) => [min - 43200, max + 43200] },
        y: { range: (_u, _min, max) => [0, Math.max(1, (max ?? 0) * 1.15)] },
      },
      axes: [{ space: 60 }, { values: (_u, ticks) => ticks.map((t) => duration(t)), incrs: durationSteps, size: 80 }],
      legend: { live: true },
    },
    data,
    target,
  );
  const resize = new ResizeObserver(() => plot.setSize(size()));
  resize.observe(target);
  signal.addEventListener('abort', () => (resize.disconnect(), plot.destroy()), { once: true });
  return plot;
}

/**
 * Install seconds spared per day, stacked: by templates (bottom), by composition, by the engine's layer cache (top).
 * Each series is drawn as the running total so the bars stack; the legend shows each part's own value.
 */
export function savedPlot(target: HTMLElement, days: DailyBuildStats[], signal: AbortSignal): uPlot {
  const parts = [days.map((d) => d.secondsSaved), days.map((d) => d.secondsSavedComposed), days.map((d) => d.secondsSavedCache ?? 0)];
  const stacked = parts.map((_, i) => days.map((_d, j) => parts.slice(0, i + 1).reduce((n, p) => n + p[j]!, 0)));
  const part = (i: number) => (_u: uPlot, _v: number | null, _s: number, j: number | null) => duration(j === null ? null : parts[i]![j]!);
  const bars = uPlot.paths.bars!({ size: [0.6, 48] });
  const series = [
    { label: 'By templates', stroke: '#1b7340', fill: '#1b7340' },
    { label: 'By composition', stroke: '#2a5db0', fill: '#7d9fd8' },
    { label: 'By the layer cache', stroke: '#8a6d1f', fill: '#dcc27a' },
  ];
  // Drawn tallest first, each smaller total in front of (and opaque over) the one above it: the bars stack.
  return chart(
    target,
    series.map((s, i) => ({ ...s, paths: bars, points: { show: false }, value: part(i) })).reverse(),
    // Nothing saved is no bar at all (a zero-height bar would still draw its outline).
    [days.map((d) => dayStart(d.day)), ...stacked.map((xs) => xs.map((v) => (v > 0 ? v : null))).reverse()],
    signal,
  );
}

/**
 * Median build duration per day, with and without a template (lines; days without such builds are gaps). The two
 * series' points differ in size, so a day where both took as long still shows both (the smaller inside the larger).
 */
export function durationPlot(target: HTMLElement, days: DailyBuildStats[], signal: AbortSignal): uPlot {
  return chart(
    target,
    [
      { label: 'With a template', stroke: '#1b7340', width: 2, points: { show: true, size: 11 }, value: (_u, v) => duration(v) },
      { label: 'Without', stroke: '#a3461f', width: 2, dash: [6, 4], points: { show: true, size: 5 }, value: (_u, v) => duration(v) },
    ],
    [days.map((d) => dayStart(d.day)), days.map((d) => d.medianSecondsWithTemplate), days.map((d) => d.medianSecondsWithout)],
    signal,
  );
}

/** The same numbers as a table, for screen readers and for anyone who wants the figures. */
export function dataTable(id: string, caption: string, columns: string[], rows: (string | number)[][]): HTMLElement {
  return h(
    'details',
    { class: 'plot-data' },
    h('summary', {}, 'The numbers'),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { id },
        h('caption', {}, caption),
        h('thead', {}, h('tr', {}, ...columns.map((c, i) => h('th', { scope: 'col', class: i ? 'num' : '' }, c)))),
        h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((v, i) => (i ? h('td', { class: 'num' }, v) : h('th', { scope: 'row' }, v)))))),
      ),
    ),
  );
}

// Durations as a person reads them, the same in the web form and the CLI. Pure.

/** "8.1 s", "4 min 10 s", "1 h 5 min". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) {
    const s = Math.round(seconds - m * 60);
    return s ? `${m} min ${s} s` : `${m} min`;
  }
  const hh = Math.floor(m / 60);
  const mm = m - hh * 60;
  return mm ? `${hh} h ${mm} min` : `${hh} h`;
}

/** An estimate with its range: "about 4 min (3–6 min)"; a range in the same unit drops the first unit. */
export function estimateText(e: { seconds: number; low: number; high: number }): string {
  const lo = duration(e.low);
  const hi = duration(e.high);
  const single = /^([\d.]+) (s|min|h)$/;
  const [a, b] = [single.exec(lo), single.exec(hi)];
  const range = a && b && a[2] === b[2] ? `${a[1]}–${hi}` : `${lo} – ${hi}`;
  return `about ${duration(e.seconds)} (${range})`;
}

export const ordinal = (n: number) => {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${s}`;
};

// How kiln's share of the daily clairvoyant (10 templates) moves when each setting is halved or doubled: a result that
// holds only at one value of a constant is tuned to the trace, not earned.
import { defaultAnalysisOptions } from '../../analyzer/analyzer-settings.ts';
import type { Costs, HistoryBuild } from '../../core/templates/savings.ts';
import { policies, replay, type ReplayOptions } from './trace-replay.ts';

export async function sensitivity(trace: readonly HistoryBuild[], costs: Costs, o: { sizes: ReadonlyMap<string, number>; periodSeconds: number }): Promise<string[]> {
  const base = { ...defaultAnalysisOptions(), sizes: o.sizes };
  const opts = (analysis: ReplayOptions['analysis']): ReplayOptions => ({ periodSeconds: o.periodSeconds, windowSeconds: 28 * 86400, maxTemplates: 10, analysis });
  const clairvoyant = replay('clairvoyant', trace, costs, policies.clairvoyant(costs, opts(base)), opts(base)).netSeconds;
  const share = (a: ReplayOptions['analysis']) => replay('kiln', trace, costs, policies.kiln(costs, opts(a)), opts(a)).netSeconds / clairvoyant;
  const out = [`  defaults: ${share(base).toFixed(3)}`];
  const numeric = ['defaultHalfLife', 'validationSeconds', 'validationWindows', 'validationDiscount', 'hysteresisSeconds', 'halfLifeMargin', 'holdRebuilds', 'storageSecondsPerGiB', 'minSupport', 'minTemplateSeconds', 'swapPasses', 'swapCandidates', 'maxCandidates'] as const;
  for (const key of numeric) {
    const v = base[key] as number;
    const cell = (f: number) => share({ ...base, [key]: key === 'validationDiscount' ? Math.min(1, v * f) : Math.max(0, Math.round(v * f * 1000) / 1000) }).toFixed(3);
    out.push(`  ${key.padEnd(22)} ×0.5 ${cell(0.5)}   ×2 ${cell(2)}   (0: ${cell(0)})`);
  }
  const hl = base.halfLives;
  out.push(`  halfLives              only the default ${share({ ...base, halfLives: [base.defaultHalfLife] }).toFixed(3)}   halved ${share({ ...base, halfLives: hl.map((x) => x / 2) }).toFixed(3)}   doubled ${share({ ...base, halfLives: hl.map((x) => x * 2) }).toFixed(3)}`);
  return out;
}

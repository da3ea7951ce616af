// The analyzer's tuning, in one place: the service and the trace replay both start from these.
import type { SelectOptions } from './template-selector.ts';

export function defaultSelectOptions(): Omit<SelectOptions, 'now' | 'maxTemplates' | 'built'> {
  return {
    // A build from two weeks ago counts half as much as one today: team needs drift.
    halfLifeSeconds: 14 * 86400,
    // Keeping a GiB of template around is charged like 60 s of installing, per analysis horizon.
    storageSecondsPerGiB: 60,
    sizes: new Map(),
    defaultSizeBytes: 512 * 1024 ** 2,
    // A template must serve at least ~2 recent builds, and save at least 2 minutes each, to be worth a base image.
    minSupport: 2,
    minTemplateSeconds: 120,
    swapPasses: 2,
  };
}

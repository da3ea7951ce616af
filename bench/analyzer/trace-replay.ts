// Replays a build trace under a template policy, charging each build the install seconds its best template does not
// cover and each new template its build cost. Policies: none, Docker layer cache only, top-K most frequent, kiln
// (the service's own selector, not a copy), and an oracle that knows the next period. Pure.
import { selectTemplates, type SelectOptions } from '../../analyzer/template-selector.ts';
import { bestTemplateFor, costOf, parentWithin, setKey, type Costs, type HistoryBuild, type TemplateSet } from '../../core/templates/savings.ts';

export interface ReplayOptions {
  periodSeconds: number;
  /** History the policies look back over at each analysis. */
  windowSeconds: number;
  maxTemplates: number;
  select: Omit<SelectOptions, 'now' | 'maxTemplates' | 'built'>;
}

export interface ReplayResult {
  policy: string;
  builds: number;
  /** Install seconds all builds would spend with nothing reused. */
  totalSeconds: number;
  /** Install seconds spared to builds. */
  savedSeconds: number;
  /** Seconds spent building templates. */
  templateSeconds: number;
  /** savedSeconds − templateSeconds */
  netSeconds: number;
  templatesBuilt: number;
}

/** Decides the template set for the next period from what it may know. */
export type Policy = (ctx: { past: HistoryBuild[]; next: HistoryBuild[]; now: number; current: TemplateSet[] }) => TemplateSet[];

const keyOf = (t: TemplateSet) => setKey(t.root, t.components);

export function replayTemplates(name: string, trace: HistoryBuild[], costs: Costs, policy: Policy, opts: ReplayOptions): ReplayResult {
  const sorted = [...trace].sort((a, b) => a.t - b.t);
  const r: ReplayResult = { policy: name, builds: sorted.length, totalSeconds: 0, savedSeconds: 0, templateSeconds: 0, netSeconds: 0, templatesBuilt: 0 };
  if (sorted.length === 0) return r;
  let current: TemplateSet[] = [];
  let i = 0;
  for (let start = sorted[0]!.t; i < sorted.length; start += opts.periodSeconds) {
    const end = start + opts.periodSeconds;
    let j = i;
    while (j < sorted.length && sorted[j]!.t < end) j++;
    const past = sorted.slice(0, i).filter((b) => b.t >= start - opts.windowSeconds);
    const next = policy({ past, next: sorted.slice(i, j), now: start, current });
    // New templates are built (from a parent that exists in the new set, when nested); kept ones cost nothing more.
    const had = new Set(current.map(keyOf));
    for (const t of next) {
      if (had.has(keyOf(t))) continue;
      const parent = parentWithin(t, next, costs);
      r.templateSeconds += costOf(t.components, costs) - (parent ? costOf(parent.components, costs) : 0);
      r.templatesBuilt++;
    }
    current = next;
    for (const b of sorted.slice(i, j)) {
      r.totalSeconds += costOf(b.components, costs);
      r.savedSeconds += bestTemplateFor(b, current, costs)?.saved ?? 0;
    }
    i = j;
  }
  r.netSeconds = r.savedSeconds - r.templateSeconds;
  return r;
}

/** Components in a fixed order (heaviest first, then name), as a canonical Dockerfile would install them. */
const canonical = (components: string[], costs: Costs) =>
  [...components].sort((a, b) => (costs.get(b) ?? 0) - (costs.get(a) ?? 0) || a.localeCompare(b));

/**
 * Docker's layer cache alone: a build reuses the longest prefix of its canonical install sequence that the engine it
 * lands on still holds. Builds are spread over `hosts` engines (round robin), each keeping `cacheBytesPerHost` of
 * layers, least recently used evicted; every build also adds its own binary layer. Templates, by contrast, live in the
 * registry and serve every host.
 */
export function replayLayerCache(trace: HistoryBuild[], costs: Costs, opts: LayerCacheOptions): ReplayResult {
  const hosts = Array.from({ length: opts.hosts }, () => ({ lru: new Map<string, number>(), bytes: 0 }));
  const size = (k: string) => opts.sizes.get(k) ?? opts.defaultSizeBytes;
  const r: ReplayResult = { policy: 'layer cache only', builds: trace.length, totalSeconds: 0, savedSeconds: 0, templateSeconds: 0, netSeconds: 0, templatesBuilt: 0 };
  const touch = (host: (typeof hosts)[number], key: string, bytes: number) => {
    if (host.lru.has(key)) {
      host.lru.delete(key);
      host.bytes -= bytes;
    }
    host.lru.set(key, bytes);
    host.bytes += bytes;
    for (const [oldest, b] of host.lru) {
      if (host.bytes <= opts.cacheBytesPerHost) break;
      host.lru.delete(oldest);
      host.bytes -= b;
    }
  };
  [...trace].sort((a, c) => a.t - c.t).forEach((b, n) => {
    const host = hosts[n % opts.hosts]!;
    const seq = canonical(b.components, costs);
    r.totalSeconds += costOf(seq, costs);
    let prefix = b.root;
    let reusing = true;
    for (const k of seq) {
      prefix += `>${k}`;
      if (reusing && host.lru.has(prefix)) r.savedSeconds += costs.get(k) ?? 0;
      else reusing = false;
      touch(host, prefix, size(k));
    }
    touch(host, `${prefix}>binary#${n}`, opts.binaryBytes);
  });
  r.netSeconds = r.savedSeconds;
  return r;
}

export interface LayerCacheOptions {
  hosts: number;
  cacheBytesPerHost: number;
  sizes: ReadonlyMap<string, number>;
  defaultSizeBytes: number;
  /** The user's binary layer each build adds to the cache. */
  binaryBytes: number;
}

export const policies = {
  none: (): Policy => () => [],

  topK: (k: number): Policy => ({ past }) => {
    const counts = new Map<string, { t: TemplateSet; n: number }>();
    for (const b of past) {
      const key = setKey(b.root, b.components);
      const e = counts.get(key) ?? { t: { root: b.root, components: [...b.components].sort() }, n: 0 };
      e.n++;
      counts.set(key, e);
    }
    return [...counts.values()].sort((a, b) => b.n - a.n).slice(0, k).map((e) => e.t);
  },

  /** The service's selector on the recency-weighted past; templates already built are sunk cost. */
  kiln: (costs: Costs, opts: ReplayOptions): Policy => ({ past, now, current }) =>
    selectTemplates(past, costs, { ...opts.select, now, maxTemplates: opts.maxTemplates, built: new Set(current.map(keyOf)) }).templates,

  /** Knows exactly which builds the next period brings, and chooses for them with the same objective and budget. */
  oracle: (costs: Costs, opts: ReplayOptions): Policy => ({ next, now, current }) =>
    selectTemplates(next, costs, {
      ...opts.select,
      now,
      halfLifeSeconds: Number.POSITIVE_INFINITY,
      minSupport: 0,
      maxTemplates: opts.maxTemplates,
      built: new Set(current.map(keyOf)),
    }).templates,
};

/** Every policy on one trace, in the order the bench prints them: none, layer cache, top-K, kiln, oracle. */
export function comparePolicies(trace: HistoryBuild[], costs: Costs, opts: ReplayOptions, layer: LayerCacheOptions): ReplayResult[] {
  return [
    replayTemplates('no templates', trace, costs, policies.none(), opts),
    replayLayerCache(trace, costs, layer),
    replayTemplates(`top-${opts.maxTemplates} most frequent`, trace, costs, policies.topK(opts.maxTemplates), opts),
    replayTemplates('kiln', trace, costs, policies.kiln(costs, opts), opts),
    replayTemplates('oracle (knows next period)', trace, costs, policies.oracle(costs, opts), opts),
  ];
}

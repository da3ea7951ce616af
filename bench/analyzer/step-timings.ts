// Step timings for a generated trace: what each build would have recorded in kiln. Builders (hosts × slots) take builds
// first come, first served; each build goes the way kiln would send it — composed when every component has a layer
// (a new version's layer appears once it has been built; a family may be not composable), FROM a template the daily
// analysis made of frequent installed combinations, else installed — and records its steps by kind: installs (cold,
// or answered by that host's layer cache: LRU per host, by prefix), the binary, push (bytes of the new layers),
// pull (a template the host lacks), verify (a combination's first build), assemble, plus kiln's own overhead. Every
// duration carries noise, installs and transfers follow a drifting network speed (a mean-reverting walk, plus an
// optional step change), and hosts differ. Seeded: reproducible. Pure.
import type { StepKind } from '../../core/db/schema/builds.ts';
import type { Route, StepSample } from '../../core/eta/estimate-types.ts';
import type { HistoryBuild } from '../../core/templates/savings.ts';
import { canonical } from './layer-cache.ts';

export interface TimingSpec {
  seed: number;
  hosts: number;
  /** Builds each host runs at once. */
  slots: number;
  /** σ of the log of every step's duration around its mean (per build). */
  noise: number;
  /** σ per day of the network speed's log random walk (mean-reverting over about a week). */
  drift: number;
  /** From this day on installs and transfers are `shiftFactor` times slower (a mirror moved); null: none. */
  shiftDay: number | null;
  shiftFactor: number;
  /** Share of component families that compose (the rest always install). */
  composableShare: number;
  /** Install-route combinations built at least this often in the last week become templates (daily, at most 5). */
  templateMinBuilds: number;
  /** Median size of a binary, bytes, and the σ of its log across combinations. */
  binaryBytes: number;
  binarySpread: number;
  pushBytesPerSecond: number;
  pullBytesPerSecond: number;
  /** Layer cache per host, bytes. */
  cacheBytesPerHost: number;
}

export const defaultTimingSpec = (o: Partial<TimingSpec> = {}): TimingSpec => ({
  seed: 7,
  hosts: 2,
  slots: 1,
  noise: 0.25,
  drift: 0.08,
  shiftDay: 45,
  shiftFactor: 1.5,
  composableShare: 0.75,
  templateMinBuilds: 3,
  binaryBytes: 30e6,
  binarySpread: 1.2,
  pushBytesPerSecond: 60e6,
  pullBytesPerSecond: 120e6,
  cacheBytesPerHost: 20 * 1024 ** 3,
  ...o,
});

/** A step as kiln records it (install and cache steps with their prefix: core/eta/estimate-types.ts). */
export type TimedStep = Omit<StepSample, 't' | 'components'>;

export interface TimedBuild extends HistoryBuild {
  binaryBytes: number;
  route: Route;
  templateId: string | null;
  covered: string[];
  templateBytes: number | null;
  verified: boolean | null;
  host: number;
  /** Place in the queue when submitted (1 = next; 0 = a slot was free). */
  position: number;
  startedAt: number;
  finishedAt: number;
  steps: TimedStep[];
}

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next());
  return { next, normal };
}

const hashOf = (s: string) => [...s].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7);

/** `costs`: install seconds per component key on the nominal network; `sizes`: installed bytes per key. */
export function timeTrace(trace: readonly HistoryBuild[], costs: ReadonlyMap<string, number>, sizes: ReadonlyMap<string, number>, spec: TimingSpec): TimedBuild[] {
  const r = rng(spec.seed);
  const family = (key: string) => key.split('@')[0]!;
  const families = [...new Set([...costs.keys()].map(family))].sort();
  const composable = new Set(families.filter(() => r.next() < spec.composableShare));
  const hostSpeed = Array.from({ length: spec.hosts }, () => Math.exp(0.1 * r.normal()));
  const layerBytes = (key: string) => (sizes.get(key) ?? 200e6) * (0.8 + 0.4 * ((hashOf(key) % 1000) / 1000));
  const noisy = (x: number) => x * Math.exp(spec.noise * r.normal());

  // The network's speed per day: a mean-reverting walk of its log, then the step change.
  const days = Math.ceil((trace.at(-1)?.t ?? 0) / 86400) + 2;
  const speed: number[] = [];
  for (let d = 0, log = 0; d < days; d++) {
    log = 0.85 * log + spec.drift * r.normal();
    speed.push(Math.exp(log) * (spec.shiftDay !== null && d >= spec.shiftDay ? spec.shiftFactor : 1));
  }
  const slow = (t: number) => speed[Math.min(days - 1, Math.floor(t / 86400))]!;

  const layerReady = new Map<string, number>();
  const firstDay = new Set(trace.filter((b) => b.t < 86400).flatMap((b) => b.components));
  const verified = new Set<string>();
  const templates: { id: string; components: string[]; bytes: number }[] = [];
  const hostHas = Array.from({ length: spec.hosts }, () => new Set<string>());
  const caches = Array.from({ length: spec.hosts }, () => ({ lru: new Map<string, number>(), bytes: 0 }));
  const slotFree = Array.from({ length: spec.hosts * spec.slots }, () => 0);
  const installed: { t: number; key: string }[] = [];
  const starts: number[] = [];
  let lastAnalysisDay = -1;
  const out: TimedBuild[] = [];

  const touch = (host: number, key: string, bytes: number) => {
    const c = caches[host]!;
    const had = c.lru.get(key);
    if (had !== undefined) (c.lru.delete(key), (c.bytes -= had));
    c.lru.set(key, bytes);
    c.bytes += bytes;
    for (const [k, b] of c.lru) {
      if (c.bytes <= spec.cacheBytesPerHost) break;
      c.lru.delete(k);
      c.bytes -= b;
    }
  };

  for (const b of trace) {
    const day = Math.floor(b.t / 86400);
    if (day !== lastAnalysisDay) {
      // The daily analysis: frequent installed combinations of the last week become templates (on host 0).
      lastAnalysisDay = day;
      const counts = new Map<string, number>();
      for (const x of installed) if (x.t >= b.t - 7 * 86400) counts.set(x.key, (counts.get(x.key) ?? 0) + 1);
      const chosen = [...counts].filter(([, n]) => n >= spec.templateMinBuilds).sort((x, y) => y[1] - x[1]).slice(0, 5);
      for (const [key] of chosen) {
        if (templates.some((t) => t.id === key)) continue;
        const components = key.split('+');
        templates.push({ id: key, components, bytes: components.reduce((n, k) => n + layerBytes(k), 0) });
        hostHas[0]!.add(key);
      }
    }
    for (const k of b.components) {
      if (!layerReady.has(k)) layerReady.set(k, firstDay.has(k) ? 0 : b.t + (costs.get(k) ?? 600) * slow(b.t));
    }
    const combo = [...b.components].sort().join('+');
    const binaryBytes = Math.round(spec.binaryBytes * Math.exp(spec.binarySpread * (((hashOf(combo) % 2000) / 1000 - 1) * 1.5)) * Math.exp(0.15 * r.normal()));

    // A slot: the one free first (first come, first served).
    let slot = 0;
    for (let i = 1; i < slotFree.length; i++) if (slotFree[i]! < slotFree[slot]!) slot = i;
    const start = Math.max(b.t, slotFree[slot]!);
    const host = slot % spec.hosts;
    const position = starts.filter((s) => s > b.t).length + (start > b.t ? 1 : 0);
    const hs = hostSpeed[host]! * slow(start);

    const steps: TimedStep[] = [];
    const step = (kind: StepKind, component: string, seconds: number, bytes: number | null, prefix: string | null = null, afterCached = false) =>
      steps.push({ kind, component, seconds, bytes, prefix, afterCached });
    let route: Route;
    let template: (typeof templates)[number] | undefined;
    let isVerified: boolean | null = null;
    const composes = b.components.every((k) => composable.has(family(k)) && layerReady.get(k)! <= start);
    if (composes) {
      route = 'composed';
      isVerified = verified.has(combo);
      for (const k of b.components) step('layer', k, 0, null);
      if (!isVerified) step('verify', 'verify', noisy(8 + 6 * b.components.length), null);
      verified.add(combo);
      step('assemble', 'binary', noisy(0.8 + binaryBytes / 80e6), binaryBytes);
    } else {
      const wanted = new Set(b.components);
      const fitting = templates.filter((t) => t.components.every((k) => wanted.has(k)));
      template = fitting.sort((x, y) => y.components.reduce((n, k) => n + (costs.get(k) ?? 0), 0) - x.components.reduce((n, k) => n + (costs.get(k) ?? 0), 0))[0];
      route = template ? 'template' : 'install';
      if (template && !hostHas[host]!.has(template.id)) {
        step('pull', 'pull', noisy(0.5 + (template.bytes / spec.pullBytesPerSecond) * slow(start)), template.bytes);
        hostHas[host]!.add(template.id);
      }
      const base = template ? `tpl:${template.id}` : `root:${b.root}`;
      const covered = new Set(template?.components ?? []);
      let prefix = base;
      let cachedSoFar = true;
      let pushBytes = binaryBytes;
      for (const k of canonical(b.components.filter((c) => !covered.has(c)), costs)) {
        const key = `${prefix}>${k}`;
        const hit: boolean = cachedSoFar && caches[host]!.lru.has(key);
        const bytes = layerBytes(k);
        if (hit) step('cache', k, 0.3 * Math.exp(0.5 * r.normal()), bytes, prefix, cachedSoFar);
        else {
          step('install', k, noisy((costs.get(k) ?? 600) * hs), bytes, prefix, cachedSoFar);
          pushBytes += bytes;
        }
        cachedSoFar = hit;
        touch(host, key, bytes);
        prefix = key;
      }
      step('install', 'binary', noisy(0.3 + binaryBytes / 150e6), binaryBytes);
      step('push', 'push', noisy(0.5 + (pushBytes / spec.pushBytesPerSecond) * slow(start)), pushBytes);
      installed.push({ t: b.t, key: combo });
    }
    const overhead = noisy(route === 'composed' ? 1 : 1.5);
    const finish = start + overhead + steps.reduce((n, s) => n + s.seconds, 0);
    slotFree[slot] = finish;
    starts.push(start);
    out.push({
      ...b,
      binaryBytes,
      route,
      templateId: template?.id ?? null,
      covered: template?.components ?? [],
      templateBytes: template?.bytes ?? null,
      verified: isVerified,
      host,
      position,
      startedAt: start,
      finishedAt: finish,
      steps,
    });
  }
  return out;
}

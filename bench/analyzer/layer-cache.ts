// Docker's layer cache, simulated: a build reuses the longest prefix of its install sequence (canonical order, on top
// of its base) that the engine it lands on still holds. Builds go round robin over the hosts; each host keeps its
// capacity of layers, least recently used evicted, and every build also adds its own binary layer. Templates, when a
// policy has them, sit on every host (pulled ahead) and take their bytes out of each host's capacity. Pure.
import type { Costs } from '../../core/templates/savings.ts';

export interface LayerCacheOptions {
  hosts: number;
  /** Storage per host, bytes: layer cache plus the templates it holds. */
  bytesPerHost: number;
  sizes: ReadonlyMap<string, number>;
  defaultSizeBytes: number;
  /** The user's binary layer each build adds to the cache. */
  binaryBytes: number;
}

/** Components in a fixed order (heaviest first, then name), as a canonical Dockerfile would install them. */
export const canonical = (components: readonly string[], costs: Costs) =>
  [...components].sort((a, b) => (costs.get(b) ?? 0) - (costs.get(a) ?? 0) || a.localeCompare(b));

export class LayerCache {
  private readonly hosts: { lru: Map<string, number>; bytes: number }[];
  private capacity: number;
  private n = 0;

  constructor(private readonly opts: LayerCacheOptions) {
    this.hosts = Array.from({ length: opts.hosts }, () => ({ lru: new Map(), bytes: 0 }));
    this.capacity = opts.bytesPerHost;
  }

  /** What is left for layers once `templateBytes` of templates sit on each host (never below zero). */
  setTemplateBytes(templateBytes: number): void {
    this.capacity = Math.max(0, this.opts.bytesPerHost - templateBytes);
    for (const h of this.hosts) this.evict(h);
  }

  /**
   * One build: `base` names what it starts FROM (root or template), `rest` are the components it still installs.
   * Returns the install seconds the cache spared it, and which components it did not install (as the engine reports
   * each step cached or not). A template build (`binary` false) goes through the same engine, without a binary layer.
   */
  build(base: string, rest: readonly string[], costs: Costs, binary = true): { saved: number; cached: string[] } {
    const host = this.hosts[this.n % this.hosts.length]!;
    const id = this.n++;
    let prefix = base;
    let reusing = true;
    let saved = 0;
    const cached: string[] = [];
    for (const k of canonical(rest, costs)) {
      prefix += `>${k}`;
      if (reusing && host.lru.has(prefix)) {
        saved += costs.get(k) ?? 0;
        cached.push(k);
      } else reusing = false;
      this.touch(host, prefix, this.opts.sizes.get(k) ?? this.opts.defaultSizeBytes);
    }
    if (binary) this.touch(host, `${prefix}>binary#${id}`, this.opts.binaryBytes);
    return { saved, cached };
  }

  private touch(host: (typeof this.hosts)[number], key: string, bytes: number): void {
    const had = host.lru.get(key);
    if (had !== undefined) {
      host.lru.delete(key);
      host.bytes -= had;
    }
    host.lru.set(key, bytes);
    host.bytes += bytes;
    this.evict(host);
  }

  private evict(host: (typeof this.hosts)[number]): void {
    for (const [oldest, b] of host.lru) {
      if (host.bytes <= this.capacity) break;
      host.lru.delete(oldest);
      host.bytes -= b;
    }
  }
}

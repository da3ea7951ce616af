// Prometheus metrics (prom-client), one registry per app. Build and template numbers come from the database at
// scrape time; the duration histogram is fed incrementally from the builds that ended since the last scrape.
import type { Queue } from 'bullmq';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricsStore } from '../core/db/metrics-store.ts';
import { buildStatuses } from '../core/db/schema/builds.ts';
import { templateStatuses } from '../core/db/schema/templates.ts';
import type { Logger } from '../core/logger.ts';

const queueStates = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;

export interface MetricsDeps {
  store: MetricsStore;
  queue: Pick<Queue, 'getJobCounts'>;
  log: Logger;
}

export function createMetrics(deps: MetricsDeps): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kiln_' });

  new Gauge({
    name: 'kiln_builds',
    help: 'Builds recorded, by status (all time)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const rows = await deps.store.buildsByStatus();
      for (const status of buildStatuses) this.set({ status }, rows.find((r) => r.status === status)?.count ?? 0);
    },
  });

  // Fed from the database so that it counts builds every builder finished, across api restarts; the cursor makes each
  // scrape read only what ended since the previous one. Scrapes are serialized so no build is observed twice.
  let cursor = { finishedMs: -1, id: '00000000-0000-0000-0000-000000000000' };
  let feeding: Promise<void> = Promise.resolve();
  new Histogram({
    name: 'kiln_build_duration_seconds',
    help: 'Wall time of builds from start to end, by outcome',
    labelNames: ['status'],
    buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
    registers: [registry],
    collect() {
      feeding = feeding.then(async () => {
        for (;;) {
          const batch = await deps.store.finishedAfter(cursor, 5000);
          for (const b of batch) this.observe({ status: b.status }, Math.max(0, b.seconds));
          const last = batch.at(-1);
          if (last) cursor = { finishedMs: last.finishedMs, id: last.id };
          if (batch.length < 5000) return;
        }
      });
      return feeding;
    },
  });

  new Gauge({
    name: 'kiln_queue_jobs',
    help: 'Jobs in the build queue (builds and template builds), by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const counts = await deps.queue.getJobCounts(...queueStates);
        for (const state of queueStates) this.set({ state }, counts[state] ?? 0);
      } catch (err) {
        // Redis down: report no queue numbers rather than failing the whole scrape (/readyz says what is down).
        deps.log.warn({ err }, 'metrics: could not read the queue');
      }
    },
  });

  const templateRows = () => deps.store.templateTotals();
  new Gauge({
    name: 'kiln_templates',
    help: 'Templates, by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const rows = await templateRows();
      for (const status of templateStatuses) this.set({ status }, rows.find((r) => r.status === status)?.count ?? 0);
    },
  });
  new Gauge({
    name: 'kiln_template_hits',
    help: 'Builds that succeeded starting FROM a template (all templates, all time)',
    registers: [registry],
    async collect() {
      this.set((await templateRows()).reduce((n, r) => n + r.hits, 0));
    },
  });
  new Gauge({
    name: 'kiln_template_seconds_saved',
    help: 'Install seconds builds did not spend because they started FROM a template (all time)',
    registers: [registry],
    async collect() {
      this.set((await templateRows()).reduce((n, r) => n + r.secondsSaved, 0));
    },
  });

  return registry;
}

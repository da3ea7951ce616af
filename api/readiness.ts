// Readiness: can this api do its work right now? Each dependency is probed with a timeout, and the answer names the
// ones that did not answer, with why.
import { sql } from 'drizzle-orm';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import type { BlobStore } from '../core/blob-store.ts';
import type { Db } from '../core/db/database.ts';
import type { RegistryClient } from '../core/registry-client.ts';

export const dependencyNames = ['database', 'redis', 's3', 'engine', 'registry'] as const;
export type DependencyName = (typeof dependencyNames)[number];

export interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}

export interface ReadinessDeps {
  db: Db;
  redis: Pick<Redis, 'ping'>;
  blobs: Pick<BlobStore, 'ping'>;
  docker: Pick<Docker, 'ping'>;
  registry: Pick<RegistryClient, 'check'>;
  timeoutMs?: number;
}

async function probe(check: () => Promise<unknown>, timeoutMs: number): Promise<CheckResult> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, ms: Date.now() - t0 };
  } catch (err) {
    return { ok: false, ms: Date.now() - t0, error: (err as Error).message || String(err) };
  } finally {
    clearTimeout(timer);
  }
}

export function createReadiness(deps: ReadinessDeps) {
  const timeoutMs = deps.timeoutMs ?? 2000;
  const checks: Record<DependencyName, () => Promise<unknown>> = {
    database: () => deps.db.execute(sql`select 1`),
    redis: () => deps.redis.ping(),
    s3: () => deps.blobs.ping(),
    engine: () => deps.docker.ping(),
    // Not only "answers": kiln's credentials must open it (the error names the registry and what is wrong).
    registry: () => deps.registry.check(),
  };
  return async (): Promise<{ ready: boolean; down: DependencyName[]; checks: Record<DependencyName, CheckResult> }> => {
    const results = await Promise.all(dependencyNames.map(async (name) => [name, await probe(checks[name], timeoutMs)] as const));
    const all = Object.fromEntries(results) as Record<DependencyName, CheckResult>;
    const down = dependencyNames.filter((n) => !all[n].ok);
    return { ready: down.length === 0, down, checks: all };
  };
}

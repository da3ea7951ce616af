// The api's readiness: what the api itself uses. Not the Docker engine: no api route talks to one (builders do, and
// answer for it on their own /readyz), so an api on a host without an engine — compose.yaml's — can be ready.
import { sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { BlobStore } from '../core/blob-store.ts';
import type { Db } from '../core/db/database.ts';
import { createReadiness as readinessOf } from '../core/readiness.ts';
import type { RegistryClient } from '../core/registry-client.ts';

export const dependencyNames = ['database', 'redis', 's3', 'registry'] as const;
export type DependencyName = (typeof dependencyNames)[number];

export interface ReadinessDeps {
  db: Db;
  redis: Pick<Redis, 'ping'>;
  blobs: Pick<BlobStore, 'ping'>;
  registry: Pick<RegistryClient, 'check'>;
  timeoutMs?: number;
}

export function createReadiness(deps: ReadinessDeps) {
  return readinessOf(
    dependencyNames,
    {
      database: () => deps.db.execute(sql`select 1`),
      redis: () => deps.redis.ping(),
      s3: () => deps.blobs.ping(),
      // Not only "answers": kiln's credentials must open it (the error names the registry and what is wrong).
      registry: () => deps.registry.check(),
    },
    deps.timeoutMs,
  );
}

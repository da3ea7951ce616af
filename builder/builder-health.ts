// What a builder answers on its own /readyz: everything a build uses — the database, Redis, S3, the engine, kiln's
// registry — and each catalog root, on its engine or published in the registry for it to pull (root-provision.ts).
// Its container's healthcheck reads it.
import { sql } from 'drizzle-orm';
import type Docker from 'dockerode';
import type { Redis } from 'ioredis';
import type { BlobStore } from '../core/blob-store.ts';
import type { Db } from '../core/db/database.ts';
import { createReadiness } from '../core/readiness.ts';
import type { RegistryClient } from '../core/registry-client.ts';
import { CURRENT_ROOT_TAG, hasImage, rootRepository } from './docker-engine.ts';

export const builderDependencies = ['database', 'redis', 's3', 'engine', 'registry', 'roots'] as const;

export interface BuilderHealthDeps {
  db: Db;
  redis: Pick<Redis, 'ping'>;
  blobs: Pick<BlobStore, 'ping'>;
  docker: Docker;
  registry: Pick<RegistryClient, 'check' | 'manifestDigest'>;
  /** REGISTRY_PREFIX: where published roots are. */
  prefix: string;
  /** The catalog's roots by their local image names. */
  roots: { root: string; image: string }[];
}

export function builderReadiness(deps: BuilderHealthDeps) {
  return createReadiness(builderDependencies, {
    database: () => deps.db.execute(sql`select 1`),
    redis: () => deps.redis.ping(),
    s3: () => deps.blobs.ping(),
    engine: () => deps.docker.ping(),
    registry: () => deps.registry.check(),
    roots: async () => {
      const missing = [];
      for (const r of deps.roots) {
        if (await hasImage(deps.docker, r.image)) continue;
        if (await deps.registry.manifestDigest(rootRepository(deps.prefix, r.root), CURRENT_ROOT_TAG)) continue;
        missing.push(`${r.root} (${r.image})`);
      }
      if (missing.length) throw new Error(`neither on this builder's engine nor published in the registry: ${missing.join(', ')} — the builder's log says why`);
    },
  });
}


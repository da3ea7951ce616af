// Opens what every kiln process shares — config-driven clients for the database, S3, Redis, the engine, and the
// catalog — and closes them in the right order. Start files pick the parts they need.
import path from 'node:path';
import Docker from 'dockerode';
import type { Redis } from 'ioredis';
import { createBlobStore, createS3Client, type BlobStore } from './blob-store.ts';
import { loadCatalog } from './catalog/catalog-loader.ts';
import type { Catalog } from './catalog/catalog.ts';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/database.ts';
import type { Logger } from './logger.ts';
import { redisConnection } from './queues.ts';
import { registryAuthFrom, registryClientFrom, type RegistryAuth, type RegistryClient } from './registry-client.ts';

export interface Infrastructure {
  config: Config;
  log: Logger;
  catalog: Catalog;
  database: Database;
  blobs: BlobStore;
  docker: Docker;
  /** kiln's own calls to its registry (digests, tags, deletes). */
  registry: RegistryClient;
  /** The same registry's credentials as the engine takes them for push and pull. */
  registryAuth: RegistryAuth;
  /** A new Redis connection; the infrastructure closes it on close(). */
  redis(role: 'producer' | 'worker'): Redis;
  close(): Promise<void>;
}

export function dockerClient(config: Pick<Config, 'DOCKER_HOST'>): Docker {
  const host = config.DOCKER_HOST;
  if (!host) return new Docker({ socketPath: '/var/run/docker.sock' });
  if (host.startsWith('unix://')) return new Docker({ socketPath: host.slice('unix://'.length) });
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http' });
}

export async function openInfrastructure(config: Config, log: Logger, opts: { pgliteDir?: string; pgliteSeed?: Blob } = {}): Promise<Infrastructure> {
  // The catalog first: a broken catalog should stop the process before it touches anything else.
  const catalog = await loadCatalog(config.catalogDir);
  const database = await openDatabase({
    ...(config.DATABASE_URL ? { url: config.DATABASE_URL } : {}),
    pgliteDir: opts.pgliteDir ?? path.join(config.dataDir, 'pglite'),
    ...(opts.pgliteSeed ? { pgliteSeed: opts.pgliteSeed } : {}),
    log,
  });
  const blobs = createBlobStore(createS3Client(config), config.S3_BUCKET);
  const connections: Redis[] = [];
  try {
    await blobs.ensureBucket();
  } catch (err) {
    await database.close();
    throw err;
  }
  return {
    config,
    log,
    catalog,
    database,
    blobs,
    docker: dockerClient(config),
    registry: registryClientFrom(config),
    registryAuth: registryAuthFrom(config),
    redis(role) {
      const r = redisConnection(config.REDIS_URL, role);
      r.on('error', (err) => log.warn({ err: err.message, role }, 'redis connection error'));
      connections.push(r);
      return r;
    },
    async close() {
      // quit() is refused while a connection is reconnecting (Redis down): drop those, or they would reconnect
      // later and keep the process alive after it was told to stop.
      await Promise.allSettled(connections.map((r) => (r.status === 'ready' ? r.quit() : Promise.resolve(r.disconnect())).catch(() => r.disconnect())));
      blobs.close();
      await database.close();
    },
  };
}

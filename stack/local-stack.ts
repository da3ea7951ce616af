// One call that makes kiln's real dependencies run on this host (packages, services, root images) and can undo it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ensurePackages, type PackageNeed } from './apt.ts';
import { ensureDockerd, localDocker } from './dockerd.ts';
import { ensurePostgres, TEST_POSTGRES_URL } from './postgres.ts';
import type { StartedService } from './process.ts';
import { ensureRedis } from './redis.ts';
import { ensureRegistry, REGISTRY_HOST } from './registry.ts';
import { ensureRootImage } from './root-image.ts';
import { S3_ACCESS_KEY_ID, S3_BUCKET, S3_ENDPOINT, S3_SECRET_ACCESS_KEY } from './s3rver.ts';
import { ensureS3rver } from './s3rver.ts';

export type { StartedService } from './process.ts';

export type RootSpec = {
  image: string;
  pull?: string;
  debootstrap: { suite: string; variant: string; components: string[] };
};

export interface LocalStackOptions {
  /** kiln's data dir; service state lives in <dataDir>/stack */
  dataDir: string;
  withPostgres: boolean;
  roots: RootSpec[];
  log: Logger;
}

export interface LocalStack {
  env: Record<string, string>;
  /** only what this call started, in start order */
  started: StartedService[];
  /** stops exactly `started`, in reverse order */
  stop(): Promise<void>;
}

export const BASE_PACKAGES: PackageNeed[] = [
  { binary: 'dockerd', pkg: 'docker.io' },
  { binary: 'redis-server', pkg: 'redis-server' },
  { binary: 'docker-registry', pkg: 'docker-registry' },
  { binary: 'debootstrap', pkg: 'debootstrap' },
];
/**
 * What the test suite needs beyond kiln's own services: PostgreSQL, a JDK to compile test jars, a
 * browser for the web form, htpasswd (bcrypt files for a registry with Basic auth) and skopeo (reads a pushed image's
 * labels as registries and scanners do).
 */
export const POSTGRES_PACKAGES: PackageNeed[] = [
  { binary: 'pg_ctlcluster', pkg: 'postgresql' },
  { binary: '/usr/lib/postgresql/15/bin/postgres', pkg: 'postgresql' },
  { binary: 'javac', pkg: 'openjdk-17-jdk-headless' },
  { binary: 'chromium', pkg: 'chromium' },
  { binary: 'htpasswd', pkg: 'apache2-utils' },
  { binary: 'skopeo', pkg: 'skopeo' },
];

export function stackStateDir(dataDir: string): string {
  return path.join(dataDir, 'stack');
}

/** The settings kiln reads to reach the local services. */
export function localStackEnv(withPostgres: boolean): Record<string, string> {
  return {
    REDIS_URL: 'redis://127.0.0.1:6379',
    S3_ENDPOINT,
    S3_REGION: 'us-east-1',
    S3_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY,
    S3_BUCKET,
    REGISTRY_HOST,
    // kiln speaks HTTPS to registries unless told otherwise; the local one is plain HTTP on loopback.
    REGISTRY_PLAIN_HTTP_HOSTS: REGISTRY_HOST,
    ...(withPostgres ? { TEST_POSTGRES_URL } : {}),
  };
}

async function stopAll(services: StartedService[], log: Logger): Promise<void> {
  // Reverse order, one at a time: later services may depend on earlier ones (root images on dockerd).
  for (const s of [...services].reverse()) {
    try {
      await s.stop();
    } catch (e) {
      log.error({ service: s.name, err: (e as Error).message }, 'stop failed');
    }
  }
}

export async function ensureLocalStack(opts: LocalStackOptions): Promise<LocalStack> {
  const { log, withPostgres } = opts;
  const stateDir = stackStateDir(opts.dataDir);
  await fs.mkdir(stateDir, { recursive: true });
  const t0 = Date.now();

  await ensurePackages([...BASE_PACKAGES, ...(withPostgres ? POSTGRES_PACKAGES : [])], log);

  // The services do not depend on one another, so start them together; fixed array order = stop order reversed.
  const starts: { name: string; run: () => Promise<StartedService | null> }[] = [
    { name: 'dockerd', run: () => ensureDockerd({ stateDir, log }) },
    { name: 'redis', run: () => ensureRedis({ stateDir, log }) },
    { name: 'registry', run: () => ensureRegistry({ stateDir, log }) },
    { name: 's3rver', run: () => ensureS3rver({ stateDir, log }) },
    ...(withPostgres ? [{ name: 'postgres', run: () => ensurePostgres({ stateDir, log }) }] : []),
  ];
  const results = await Promise.allSettled(starts.map((s) => s.run()));
  const started = results.flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${starts[i]?.name}: ${(r.reason as Error).message}`] : []));
  if (failures.length > 0) {
    await stopAll(started, log); // a failed call leaves nothing of its own running
    throw new Error(`local stack failed to start:\n${failures.join('\n')}`);
  }

  try {
    // Root images need dockerd (now up). One at a time: each debootstrap is disk- and CPU-heavy.
    const docker = localDocker();
    for (const root of opts.roots) {
      const how = await ensureRootImage({ docker, image: root.image, pull: root.pull, debootstrap: root.debootstrap, stateDir, log });
      log.info({ image: root.image, how }, 'root image ready');
    }
  } catch (e) {
    await stopAll(started, log);
    throw e;
  }

  log.info({ ms: Date.now() - t0, started: started.map((s) => s.name) }, 'local stack ready');
  return { env: localStackEnv(withPostgres), started, stop: () => stopAll(started, log) };
}

// Starts a real kiln (api and, when asked, a builder) in the test process against the real services, isolated from
// other tests by its own queue prefix, bucket, registry prefix and database — and removes all of it on close().
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import pg from 'pg';
import { pino } from 'pino';
import { startApi, type RunningApi } from '../../api/api-process.ts';
import { startBuilder, type RunningBuilder } from '../../builder/builder-process.ts';
import { startAnalyzer, type RunningAnalyzer } from '../../analyzer/analyzer-process.ts';
import { generateToken } from '../../core/auth/api-token.ts';
import { createS3Client } from '../../core/blob-store.ts';
import { loadConfig, type Config } from '../../core/config.ts';
import { openInfrastructure, type Infrastructure } from '../../core/infrastructure.ts';
import { ANALYZER_QUEUE, BUILD_QUEUE } from '../../core/queues.ts';
import { deleteRepositories } from './registry-client.ts';
import { pgliteSeed } from './pglite-seed.ts';

export type DbKind = 'pglite' | 'postgres';
export const dbKinds: DbKind[] = ['pglite', 'postgres'];

export interface TestKiln {
  url: string;
  config: Config;
  infra: Infrastructure;
  api: RunningApi;
  builder?: RunningBuilder;
  analyzer?: RunningAnalyzer;
  s3: S3Client;
  /** The project tests act in, and a token of it (what api-client sends). */
  project: string;
  token: string;
  /** KILN_ADMIN_TOKEN of this kiln. */
  adminToken: string;
  /** Every object key in this kiln's bucket. */
  objectKeys(): Promise<string[]>;
  id: string;
  db: DbKind;
  /** The environment this kiln was configured from (to start more kiln processes on the same isolation). */
  env: Record<string, string | undefined>;
  /** keepData: stop, but leave queue, bucket, registry and database for a successor (see startTestKiln). */
  close(opts?: { keepData?: boolean }): Promise<void>;
  /** What kiln logged so far, parsed (only when started with `captureLog`; it still goes to stderr too). */
  logLines(): { level: number; msg: string; [k: string]: unknown }[];
}

async function createPgDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates the test project (if missing) and a token of it, through the API, as an admin would. */
async function provisionProject(url: string, adminToken: string, project: string): Promise<string> {
  const call = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok && res.status !== 409) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<{ token?: string }>;
  };
  await call('/v1/projects', { name: project });
  return (await call('/v1/tokens', { name: 'tests', project })).token!;
}

async function dropPgDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    // FORCE ends this role's sessions, but not an autovacuum worker (a superuser's): that one ends on its own soon.
    for (let deadline = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 500))) {
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== '42501' || Date.now() > deadline) throw err;
      }
    }
  } finally {
    await client.end();
  }
}

export async function startTestKiln(
  opts: {
    db?: DbKind;
    builder?: boolean;
    analyzer?: boolean;
    env?: Record<string, string>;
    /** Take over the isolation (queue prefix, bucket, registry prefix, database) of a kiln closed with keepData. */
    successorOf?: TestKiln;
    /** Keep kiln's log lines for logLines() (at LOG_LEVEL, which `env` may set). */
    captureLog?: boolean;
  } = {},
): Promise<TestKiln> {
  const id = opts.successorOf?.id ?? randomBytes(4).toString('hex');
  const db = opts.successorOf?.db ?? opts.db ?? 'pglite';
  const adminUrl = process.env.TEST_POSTGRES_URL;
  if (db === 'postgres' && !adminUrl) throw new Error('TEST_POSTGRES_URL is not set: run the suite with `npm test`');
  const dbName = `kiln_test_${id}`;
  const adminToken = opts.successorOf?.adminToken ?? generateToken();
  const env: Record<string, string | undefined> = {
    ...process.env,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    KILN_QUEUE_PREFIX: `kiln-test-${id}`,
    S3_BUCKET: `kiln-test-${id}`,
    REGISTRY_PREFIX: `kiln-test/${id}`,
    KILN_BUILD_ATTEMPTS: '2',
    // A test that fails mid-build should not wait a minute for its builder to let go.
    KILN_SHUTDOWN_GRACE_SECONDS: '5',
    KILN_ADMIN_TOKEN: adminToken,
    // Composition queues layer builds in the background (and an analysis queues every catalog version's): tests of
    // other features build as before; composition's own tests turn it on.
    KILN_COMPOSITION: 'false',
    ...(db === 'postgres'
      ? { DATABASE_URL: opts.successorOf?.config.DATABASE_URL ?? (await createPgDatabase(adminUrl!, dbName)) }
      : { DATABASE_URL: undefined }),
    ...opts.env,
  };
  const config = loadConfig(env);
  // Logs go to stderr: stdout belongs to the test runner's protocol.
  const captured: string[] = [];
  const destination = opts.captureLog
    ? new Writable({
        write(chunk: Buffer, _enc, done) {
          captured.push(...chunk.toString('utf8').split('\n').filter(Boolean));
          process.stderr.write(chunk, () => done());
        },
      })
    : pino.destination(2);
  const log = pino({ level: config.LOG_LEVEL, name: `kiln-test-${id}` }, destination);
  const infra = await openInfrastructure(config, log, { pgliteDir: 'memory://', ...(config.DATABASE_URL ? {} : { pgliteSeed: await pgliteSeed() }) });
  const api = await startApi(infra, { host: '127.0.0.1', port: 0 });
  const builder = opts.builder ? await startBuilder(infra) : undefined;
  const analyzer = opts.analyzer ? await startAnalyzer(infra) : undefined;
  const s3 = createS3Client(config);
  const project = 'test';
  const token = await provisionProject(api.url, config.KILN_ADMIN_TOKEN ?? adminToken, project);

  const objectKeys = async () => {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: config.S3_BUCKET }));
    return (out.Contents ?? []).map((o) => o.Key!);
  };

  return {
    url: api.url,
    config,
    infra,
    api,
    ...(builder ? { builder } : {}),
    ...(analyzer ? { analyzer } : {}),
    s3,
    project,
    token,
    adminToken: config.KILN_ADMIN_TOKEN ?? adminToken,
    objectKeys,
    id,
    db,
    env,
    logLines: () => captured.map((l) => JSON.parse(l) as { level: number; msg: string }),
    async close(closeOpts: { keepData?: boolean } = {}) {
      await analyzer?.close();
      await builder?.close();
      await api.close();
      if (closeOpts.keepData) {
        s3.destroy();
        return infra.close();
      }
      for (const name of [BUILD_QUEUE, ANALYZER_QUEUE]) {
        const queue = new Queue(name, { connection: infra.redis('producer'), prefix: config.KILN_QUEUE_PREFIX });
        await queue.obliterate({ force: true });
        await queue.close();
      }
      const redis = infra.redis('producer');
      if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
      // Everything kiln keeps next to the queue: rate-limit counters, build-log streams, cancel flags, progress.
      const extra = (await Promise.all(['rate-limit', 'build-log', 'cancel', 'progress'].map((k) => redis.keys(`${config.KILN_QUEUE_PREFIX}:${k}:*`)))).flat();
      if (extra.length > 0) await redis.del(...extra);
      await deleteRepositories(infra.docker, infra.registry, `${config.REGISTRY_PREFIX}/`);
      const keys = await objectKeys();
      if (keys.length > 0) {
        await s3.send(new DeleteObjectsCommand({ Bucket: config.S3_BUCKET, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
      }
      await s3.send(new DeleteBucketCommand({ Bucket: config.S3_BUCKET }));
      s3.destroy();
      await infra.close();
      if (db === 'postgres') await dropPgDatabase(adminUrl!, dbName);
    },
  };
}

// Opens the database kiln runs on — PostgreSQL when DATABASE_URL is set, else embedded PGlite in the data dir —
// and applies the committed migrations before anything is served. A failed migration throws, which stops the process.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import pg from 'pg';
import type { Logger } from '../logger.ts';
import { MIGRATIONS_DIR } from '../repo-paths.ts';
import { lockPgliteDir } from './pglite-lock.ts';
import * as schema from './schema/index.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  close(): Promise<void>;
}

const migrationsFolder = MIGRATIONS_DIR;

export { DatabaseLockedError } from './pglite-lock.ts';

/** The advisory lock every kiln process takes to migrate: the four ASCII bytes of "kiln". */
const MIGRATION_LOCK = 0x6b696c6e;

/**
 * Runs `migrate` while holding a PostgreSQL advisory lock, so that processes starting together on a new database (a
 * deployment's api, builders and analyzer) migrate one after the other: drizzle's migrator takes no lock, and
 * concurrent first runs fail creating its own table. The lock is the session's: it goes if the process dies.
 */
async function migrateAlone(pool: pg.Pool, migrate: () => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await migrate();
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

/**
 * `url` absent → PGlite in `pgliteDir` (or in memory when `pgliteDir` is 'memory://', for tests).
 * PGlite takes no lock of its own and two processes on one directory corrupt it, so we hold one (pglite-lock.ts).
 * `pgliteSeed`: a PGlite dump (`dumpDataDir`) a new in-memory database starts from instead of an initdb, which costs
 * about 5 s of CPU in WASM each time (the suite's test kilns start from one migrated database; migrations still run).
 */
export async function openDatabase(opts: { url?: string; pgliteDir: string; pgliteSeed?: Blob; log: Logger }): Promise<Database> {
  if (opts.url) {
    const pool = new pg.Pool({ connectionString: opts.url, max: 10 });
    pool.on('error', (err) => opts.log.error({ err }, 'postgres pool error'));
    const db = drizzlePg(pool, { schema, casing: 'snake_case' }) as unknown as Db;
    try {
      await migrateAlone(pool, () => migratePg(db as never, { migrationsFolder }));
    } catch (err) {
      await pool.end();
      throw err;
    }
    opts.log.info('database: postgres, migrations applied');
    return { db, kind: 'postgres', close: () => pool.end() };
  }

  let release: (() => Promise<void>) | undefined;
  let dataDir: string | undefined;
  if (opts.pgliteDir !== 'memory://') {
    await mkdir(opts.pgliteDir, { recursive: true });
    release = await lockPgliteDir(opts.pgliteDir, opts.log);
    dataDir = opts.pgliteDir;
  }
  // Loaded only when used: PGlite's module alone adds about 40 MB to a process that runs on PostgreSQL.
  const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  const client = new PGlite(dataDir, opts.pgliteSeed && !dataDir ? { loadDataDir: opts.pgliteSeed } : {});
  const db = drizzlePglite(client, { schema, casing: 'snake_case' }) as unknown as Db;
  try {
    await migratePglite(db as never, { migrationsFolder });
  } catch (err) {
    await client.close();
    await release?.();
    throw err;
  }
  opts.log.info({ dir: dataDir ?? 'memory' }, 'database: embedded PGlite, migrations applied');
  return {
    db,
    kind: 'pglite',
    close: async () => {
      await client.close();
      await release?.();
    },
  };
}

// Starts Debian's PostgreSQL 15 cluster (for tests) when needed and makes sure the kiln/kiln role can log in over TCP.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { isAlive, logFile, pidFile, run, runOk, sleep, type StartedService } from './process.ts';
import { withLock } from './lock.ts';

export const PG_VERSION = '15';
export const PG_CLUSTER = 'main';
export const PG_PORT = 5432;
export const TEST_POSTGRES_URL = `postgres://kiln:kiln@127.0.0.1:${PG_PORT}/postgres`;
const NAME = 'postgres';

export interface PostgresOptions {
  stateDir: string;
  log: Logger;
  readyTimeoutMs?: number;
}

/** 'ok': kiln can log in; 'running': the server answers but refuses kiln (no role yet); 'down': nothing answers. */
export async function probePostgres(timeoutMs = 3000): Promise<'ok' | 'running' | 'down'> {
  const c = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: timeoutMs });
  try {
    await c.connect();
    await c.query('select 1');
    return 'ok';
  } catch (e) {
    // Errors the server itself sent carry a severity (e.g. 28P01 auth failed); socket errors do not.
    return (e as { severity?: string }).severity ? 'running' : 'down';
  } finally {
    await c.end().catch(() => undefined);
  }
}

interface ClusterInfo { status: string; port: number; dataDir: string; logFile: string }

/** The cluster as pg_lsclusters sees it, or null if it does not exist. */
async function clusterInfo(): Promise<ClusterInfo | null> {
  const out = await runOk('pg_lsclusters', ['--no-header']);
  for (const line of out.split('\n')) {
    const [ver, name, port, status, , dataDir, log] = line.trim().split(/\s+/);
    if (ver === PG_VERSION && name === PG_CLUSTER) {
      return { status: status ?? '', port: Number(port), dataDir: dataDir ?? '', logFile: log ?? '' };
    }
  }
  return null;
}

async function postmasterPid(dataDir: string): Promise<number | null> {
  const first = (await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0];
  const pid = Number.parseInt(first ?? '', 10);
  return Number.isInteger(pid) && isAlive(pid) ? pid : null;
}

/** Creates or fixes the kiln role as the postgres superuser over the local socket (peer auth). */
async function ensureRole(log: Logger): Promise<void> {
  const sql = `DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kiln') THEN
      CREATE ROLE kiln LOGIN CREATEDB PASSWORD 'kiln';
    ELSE
      ALTER ROLE kiln LOGIN CREATEDB PASSWORD 'kiln';
    END IF; END $$;`;
  await runOk('runuser', ['-u', 'postgres', '--', 'psql', '-p', String(PG_PORT), '-v', 'ON_ERROR_STOP=1', '-qAtc', sql]);
  log.info('postgres role kiln ensured');
}

function pgService(stateDir: string, pid: number, log: Logger): StartedService {
  return {
    name: NAME,
    pid,
    async stop() {
      const info = await clusterInfo();
      // Only if the postmaster is still the one we started: someone may have restarted it since.
      if (info && (await postmasterPid(info.dataDir)) === pid) {
        log.info({ service: NAME, servicePid: pid }, 'stopping');
        await runOk('pg_ctlcluster', [PG_VERSION, PG_CLUSTER, 'stop'], { timeoutMs: 60000 });
      }
      await fs.rm(pidFile(stateDir, NAME), { force: true });
    },
  };
}

export async function ensurePostgres(opts: PostgresOptions): Promise<StartedService | null> {
  if ((await probePostgres()) === 'ok') return null;
  await fs.mkdir(opts.stateDir, { recursive: true });
  // Serialised with other callers: two concurrent pg_ctlcluster starts or role creations would race.
  return withLock(opts.stateDir, `service-${NAME}`, 180000, opts.log, () => ensurePostgresLocked(opts));
}

async function ensurePostgresLocked(opts: PostgresOptions): Promise<StartedService | null> {
  const { stateDir, log } = opts;
  let state = await probePostgres();
  if (state === 'ok') return null;
  let started: StartedService | null = null;
  if (state === 'down') {
    let info = await clusterInfo();
    if (!info) {
      log.info('creating postgres cluster');
      await runOk('pg_createcluster', [PG_VERSION, PG_CLUSTER]);
      info = await clusterInfo();
      if (!info) throw new Error(`pg_createcluster ${PG_VERSION} ${PG_CLUSTER} ran but pg_lsclusters does not list it`);
    }
    if (info.port !== PG_PORT) throw new Error(`postgres cluster ${PG_VERSION}/${PG_CLUSTER} is on port ${info.port}, expected ${PG_PORT}`);
    if (info.status === 'online') throw new Error(`postgres cluster is online but 127.0.0.1:${PG_PORT} does not answer; see ${info.logFile}`);
    const lf = logFile(stateDir, NAME);
    await fs.mkdir(path.dirname(lf), { recursive: true });
    await fs.mkdir(path.dirname(pidFile(stateDir, NAME)), { recursive: true });
    const t0 = Date.now();
    // detached: the postmaster inherits pg_ctl's session; its own session keeps a Ctrl-C to the caller from reaching it.
    const r = await run('pg_ctlcluster', [PG_VERSION, PG_CLUSTER, 'start'], { detached: true, timeoutMs: 120000 });
    await fs.appendFile(lf, `[${new Date().toISOString()}] pg_ctlcluster start exit ${r.code}\n${r.stdout}${r.stderr}`);
    if (r.code !== 0) {
      throw new Error(`postgres did not start (pg_ctlcluster exit ${r.code}); see ${lf} and ${info.logFile}:\n${(r.stderr || r.stdout).trim()}`);
    }
    const pid = await postmasterPid(info.dataDir);
    if (pid === null) throw new Error(`postgres started but has no live postmaster.pid in ${info.dataDir}; see ${info.logFile}`);
    // The pid file is our record that this cluster start was ours (so `down` stops it, and only then).
    await fs.writeFile(pidFile(stateDir, NAME), `${pid}\n`);
    started = pgService(stateDir, pid, log);
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60000);
    while ((state = await probePostgres()) === 'down') {
      if (Date.now() > deadline) {
        await started.stop().catch(() => undefined);
        throw new Error(`postgres does not answer on 127.0.0.1:${PG_PORT}; see ${info.logFile}`);
      }
      await sleep(200);
    }
    log.info({ service: NAME, servicePid: pid, ms: Date.now() - t0, log: info.logFile }, 'started');
  }
  if (state !== 'ok') {
    await ensureRole(log);
    if ((await probePostgres()) !== 'ok') {
      await started?.stop().catch(() => undefined);
      throw new Error(`role kiln exists but cannot log in to ${TEST_POSTGRES_URL} (check pg_hba.conf allows scram on 127.0.0.1)`);
    }
  }
  return started;
}

/** The cluster start an earlier `up` recorded, if that postmaster is still running (for `down`). */
export async function adoptPostgres(stateDir: string, log: Logger): Promise<StartedService | null> {
  const pid = Number.parseInt(await fs.readFile(pidFile(stateDir, NAME), 'utf8').catch(() => ''), 10);
  if (!Number.isInteger(pid)) return null;
  const info = await clusterInfo().catch(() => null);
  if (!info || (await postmasterPid(info.dataDir)) !== pid) {
    await fs.rm(pidFile(stateDir, NAME), { force: true });
    return null;
  }
  return pgService(stateDir, pid, log);
}

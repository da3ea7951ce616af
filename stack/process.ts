// Shared helpers for local-stack: detached spawning, pid files, readiness waits, bounded stops and a dir lock.
import { spawn } from 'node:child_process';
import { constants as fsc, promises as fs, openSync, closeSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { withLock } from './lock.ts';

/** A process this code started and may therefore stop. */
export interface StartedService {
  name: string;
  pid: number;
  stop(): Promise<void>;
}

// root's PATH in a non-login shell can lack the sbin dirs, where dockerd/debootstrap live; children need them too.
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
export function systemPath(): string {
  const parts = (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter(Boolean);
  for (const d of SBIN) if (!parts.includes(d)) parts.push(d);
  return parts.join(':');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function pidFile(stateDir: string, name: string): string {
  return path.join(stateDir, 'pids', `${name}.pid`);
}
export function logFile(stateDir: string, name: string): string {
  return path.join(stateDir, 'logs', `${name}.log`);
}

/** Absolute path of an executable (absolute names are checked as-is), or null. */
export async function which(bin: string): Promise<string | null> {
  const candidates = bin.startsWith('/') ? [bin] : systemPath().split(':').map((d) => path.join(d, bin));
  for (const c of candidates) {
    try {
      await fs.access(c, fsc.X_OK);
      return c;
    } catch {
      /* try next */
    }
  }
  return null;
}

/** Runs a command to completion, capturing output (for short admin commands, not services). */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; detached?: boolean; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, PATH: systemPath(), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: opts.detached ?? false,
      timeout: opts.timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Like run() but throws with the command's output when it fails. */
export async function runOk(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  }
  return r.stdout;
}

/** Alive and not a zombie (a zombie still answers kill(0) but is gone for our purposes). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function cmdlineOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return null;
  }
}

/** Pid file contents if that process is still alive and still looks like ours (guards against pid reuse). */
export async function readLivePid(stateDir: string, name: string, match: string): Promise<number | null> {
  let pid: number;
  try {
    pid = Number.parseInt(await fs.readFile(pidFile(stateDir, name), 'utf8'), 10);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return null;
  return cmdlineOf(pid)?.includes(match) ? pid : null;
}

export async function tailFile(file: string, lines = 15): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** SIGTERM, wait up to timeoutMs, then SIGKILL; only if the pid still looks like the process we mean. */
export async function stopPid(pid: number, match: string, name: string, log: Logger, timeoutMs = 15000): Promise<void> {
  if (!isAlive(pid) || !cmdlineOf(pid)?.includes(match)) return;
  log.info({ service: name, servicePid: pid }, 'stopping');
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    log.warn({ service: name, servicePid: pid }, `did not exit within ${timeoutMs} ms of SIGTERM; sending SIGKILL`);
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
}

/** A StartedService for a detached pid; stop() also removes its pid file if it still names that pid. */
export function startedProcess(stateDir: string, name: string, pid: number, match: string, log: Logger, stopTimeoutMs?: number): StartedService {
  return {
    name,
    pid,
    async stop() {
      await stopPid(pid, match, name, log, stopTimeoutMs);
      const f = pidFile(stateDir, name);
      const cur = await fs.readFile(f, 'utf8').catch(() => '');
      if (cur.trim() === String(pid)) await fs.rm(f, { force: true });
    },
  };
}

/** Rebuilds a StartedService from a pid file written by an earlier run (for `down`). */
export async function adoptFromPidFile(stateDir: string, name: string, match: string, log: Logger, stopTimeoutMs?: number): Promise<StartedService | null> {
  const pid = await readLivePid(stateDir, name, match);
  if (pid === null) {
    await fs.rm(pidFile(stateDir, name), { force: true }); // stale: nothing of ours to stop
    return null;
  }
  return startedProcess(stateDir, name, pid, match, log, stopTimeoutMs);
}

/**
 * Starts a long-running process in its own session (so a Ctrl-C or the end of the caller's process group does not
 * reach it), stdout/stderr appended to its log file, pid recorded in its pid file.
 */
export async function spawnDetached(o: {
  stateDir: string; name: string; cmd: string; args: string[]; env?: NodeJS.ProcessEnv; cwd?: string;
}): Promise<{ pid: number; exitInfo: () => string | null }> {
  const lf = logFile(o.stateDir, o.name);
  await fs.mkdir(path.dirname(lf), { recursive: true });
  await fs.mkdir(path.dirname(pidFile(o.stateDir, o.name)), { recursive: true });
  const fd = openSync(lf, 'a');
  try {
    const child = spawn(o.cmd, o.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, PATH: systemPath(), ...o.env },
      cwd: o.cwd ?? o.stateDir,
    });
    let exit: string | null = null;
    child.on('exit', (code, sig) => (exit = sig ? `killed by ${sig}` : `exited with code ${code}`));
    const spawnErr = await new Promise<Error | null>((r) => {
      child.once('spawn', () => r(null));
      child.once('error', r);
    });
    if (spawnErr || child.pid === undefined) throw new Error(`${o.name}: cannot run ${o.cmd}: ${spawnErr?.message}`);
    child.unref();
    await fs.writeFile(pidFile(o.stateDir, o.name), `${child.pid}\n`);
    return { pid: child.pid, exitInfo: () => exit };
  } finally {
    closeSync(fd); // the child holds its own copy
  }
}

/** Polls probe until true; throws naming the service and its log (with a tail) on timeout or early exit. */
export async function waitUntil(o: {
  name: string; probe: () => Promise<boolean>; timeoutMs: number; logFile: string; exitInfo?: () => string | null;
}): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (await o.probe()) return;
    const exited = o.exitInfo?.();
    if (exited || Date.now() > deadline) {
      const why = exited ? `its process ${exited}` : `no answer within ${o.timeoutMs} ms`;
      throw new Error(`${o.name} did not come up (${why}); log ${o.logFile}:\n${await tailFile(o.logFile)}`);
    }
    await sleep(200);
  }
}

export function tcpOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Plain GET without keep-alive (so probes never hold the caller's event loop open). null if nothing answers. */
export function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/**
 * The common "probe, else start detached and wait" flow shared by the process-backed services. Returns null when
 * something already answers (we did not start it, so we must never stop it).
 */
export async function ensureProcess(o: {
  stateDir: string; log: Logger; name: string; match: string; port?: number;
  probe: () => Promise<boolean>; cmd: string; args: string[]; env?: NodeJS.ProcessEnv;
  prepare?: () => Promise<void>; readyTimeoutMs: number; stopTimeoutMs?: number;
}): Promise<StartedService | null> {
  const { stateDir, log, name } = o;
  if (await o.probe()) {
    log.debug({ service: name }, 'already answering');
    return null;
  }
  await fs.mkdir(stateDir, { recursive: true });
  return withLock(stateDir, `service-${name}`, o.readyTimeoutMs + 30000, log, async () => {
    if (await o.probe()) return null; // a concurrent caller started it while we waited for the lock
    const lf = logFile(stateDir, name);
    // A process from an earlier run may still be booting; starting a second one would just fail to bind.
    const prev = await readLivePid(stateDir, name, o.match);
    if (prev !== null) {
      log.info({ service: name, servicePid: prev }, 'earlier process still starting; waiting for it');
      await waitUntil({ name, probe: o.probe, timeoutMs: o.readyTimeoutMs, logFile: lf });
      return null;
    }
    if (o.port !== undefined && (await tcpOpen(o.port))) {
      throw new Error(`${name}: port 127.0.0.1:${o.port} is taken by something that does not answer like ${name}`);
    }
    await o.prepare?.();
    const t0 = Date.now();
    const { pid, exitInfo } = await spawnDetached({ stateDir, name, cmd: o.cmd, args: o.args, env: o.env });
    const svc = startedProcess(stateDir, name, pid, o.match, log, o.stopTimeoutMs);
    try {
      await waitUntil({ name, probe: o.probe, timeoutMs: o.readyTimeoutMs, logFile: lf, exitInfo });
    } catch (e) {
      await svc.stop().catch(() => undefined); // do not leave a half-started process behind
      throw e;
    }
    log.info({ service: name, servicePid: pid, ms: Date.now() - t0, log: lf }, 'started');
    return svc;
  });
}

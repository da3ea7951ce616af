// Starts Debian's dockerd (no systemd here) when nothing answers on its socket.
import Docker from 'dockerode';
import type { Logger } from 'pino';
import { adoptFromPidFile, ensureProcess, which, type StartedService } from './process.ts';

export const DOCKER_SOCKET = '/var/run/docker.sock';
const MATCH = 'dockerd';
// dockerd gives running containers up to 15 s (its shutdown-timeout) before killing them; allow for that.
const STOP_TIMEOUT_MS = 40000;

export interface DockerdOptions {
  stateDir: string;
  log: Logger;
  readyTimeoutMs?: number;
}

/** A dockerode client on the local socket; timeout guards against a hung daemon. */
export function localDocker(timeoutMs = 0): Docker {
  return new Docker({ socketPath: DOCKER_SOCKET, ...(timeoutMs > 0 ? { timeout: timeoutMs } : {}) });
}

export async function pingDocker(timeoutMs = 2000): Promise<boolean> {
  try {
    await localDocker(timeoutMs).ping();
    return true;
  } catch {
    return false; // ENOENT (no socket), ECONNREFUSED (stale socket) or timeout: not answering
  }
}

export async function ensureDockerd(opts: DockerdOptions): Promise<StartedService | null> {
  const bin = (await which('dockerd')) ?? 'dockerd';
  return ensureProcess({
    stateDir: opts.stateDir,
    log: opts.log,
    name: 'dockerd',
    match: MATCH,
    probe: () => pingDocker(),
    cmd: bin,
    // Defaults are what we want (socket /var/run/docker.sock, /var/lib/docker so images persist across runs).
    args: [],
    readyTimeoutMs: opts.readyTimeoutMs ?? 60000,
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
}

/** The dockerd an earlier `up` started (pid file), for `down`. */
export function adoptDockerd(stateDir: string, log: Logger): Promise<StartedService | null> {
  return adoptFromPidFile(stateDir, 'dockerd', MATCH, log, STOP_TIMEOUT_MS);
}

// A redis-server of a test's own, on a free port and (when it must survive a restart) with its own directory: a test
// may stop it by its pid and start it again. Never the shared Redis the other tests and engineers use.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.ts';

export interface OwnRedis {
  port: number;
  url: string;
  /** The running server's pid (undefined while stopped). */
  pid(): number | undefined;
  running(): boolean;
  /** SIGTERM to its pid (Redis saves and exits), and waits until it has. */
  stop(): Promise<void>;
  /** Starts it again on the same port (and directory: a persistent one comes back with its data). */
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(!!s.end()));
    s.on('error', () => resolve(false));
  });

/** `persistent`: append-only file synced on every write, so what Redis acknowledged survives a stop and start. */
export async function startOwnRedis(opts: { persistent?: boolean } = {}): Promise<OwnRedis> {
  const port = await freePort();
  const dir = opts.persistent ? await mkdtemp(path.join(tmpdir(), 'kiln-own-redis-')) : undefined;
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--daemonize', 'no', '--logfile', '',
    ...(dir ? ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction'] : ['--appendonly', 'no']),
  ];
  let child: ChildProcess | undefined;
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const start = async () => {
    child = spawn('redis-server', args, { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      if (await listening(port)) return;
      if (!running()) break;
      await sleep(50);
    }
    child.kill();
    throw new Error(`redis-server did not listen on ${port}`);
  };
  const stop = async () => {
    if (!child || !running()) return;
    const exited = new Promise((r) => child!.once('exit', r));
    process.kill(child.pid!, 'SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => (running() ? child!.pid : undefined),
    running,
    stop,
    start,
    async close() {
      await stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

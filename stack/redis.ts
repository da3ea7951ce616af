// Starts a local redis-server (BullMQ's backing store) when nothing answers PING on 127.0.0.1:6379.
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { adoptFromPidFile, ensureProcess, which, type StartedService } from './process.ts';

export const REDIS_PORT = 6379;
const MATCH = 'redis-server';

export interface RedisOptions {
  stateDir: string;
  log: Logger;
  readyTimeoutMs?: number;
}

/** Raw RESP PING: no client library, no reconnect loop to tear down. True only on +PONG. */
export function pingRedis(port = REDIS_PORT, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

export async function ensureRedis(opts: RedisOptions): Promise<StartedService | null> {
  const dir = path.join(opts.stateDir, 'redis');
  return ensureProcess({
    stateDir: opts.stateDir,
    log: opts.log,
    name: 'redis',
    match: MATCH,
    port: REDIS_PORT,
    probe: () => pingRedis(),
    prepare: () => fs.mkdir(dir, { recursive: true }).then(() => undefined),
    cmd: (await which('redis-server')) ?? 'redis-server',
    // noeviction: BullMQ must never lose job keys to memory pressure. appendonly: jobs survive a restart.
    // daemonize no: we hold the pid ourselves; logfile "" sends the log to stdout, i.e. our log file.
    args: [
      '--bind', '127.0.0.1', '--port', String(REDIS_PORT), '--dir', dir, '--appendonly', 'yes',
      '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--logfile', '',
    ],
    readyTimeoutMs: opts.readyTimeoutMs ?? 20000,
  });
}

export function adoptRedis(stateDir: string, log: Logger): Promise<StartedService | null> {
  return adoptFromPidFile(stateDir, 'redis', MATCH, log);
}

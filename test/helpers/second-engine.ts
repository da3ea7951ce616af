// A second Docker engine, as on another host: its own data root, socket and bridge; nothing shared with the main
// engine but the kernel and the registry. Used by the multi-host tests and `npm run bench:build`.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { dockerClient } from '../../core/infrastructure.ts';

const run = promisify(execFile);

/** A second engine, as on another host: nothing shared with the main one but the kernel and the registry. */
export interface SecondEngine {
  docker: Docker;
  host: string;
  stop(): Promise<void>;
}

const ip = (...args: string[]) => run('ip', args);

/**
 * The second engine's own bridge. Not `--bridge none`: a daemon started with it deletes the host's docker0 at start
 * (moby's removeDefaultBridgeInterface), which cuts the main engine's containers off the network.
 */
async function createBridge(): Promise<{ name: string; nat: string[][] }> {
  const name = `kilnbr${randomBytes(4).toString('hex')}`;
  const routes = (await ip('-4', 'route')).stdout;
  const third = [...Array(256).keys()].map((i) => (i + randomBytes(1)[0]!) % 256).find((x) => !routes.includes(`10.213.${x}.`));
  assert.ok(third !== undefined, 'a free /24 in 10.213.0.0/16');
  await ip('link', 'add', 'name', name, 'type', 'bridge');
  await ip('addr', 'add', `10.213.${third}.1/24`, 'dev', name);
  await ip('link', 'set', name, 'up');
  // The engine runs with --iptables=false (its rules would fight the main engine's), so its containers reach the
  // outside (the Debian mirror, for a build that installs) through these rules, as docker0's do through dockerd's.
  const nat = [
    ['-t', 'nat', '-A', 'POSTROUTING', '-s', `10.213.${third}.0/24`, '!', '-o', name, '-j', 'MASQUERADE'],
    ['-A', 'FORWARD', '-i', name, '!', '-o', name, '-j', 'ACCEPT'],
    ['-A', 'FORWARD', '-o', name, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
  ];
  for (const rule of nat) await run('iptables', rule);
  return { name, nat };
}

export async function startSecondEngine(): Promise<SecondEngine> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kiln-engine2-'));
  const { name: bridge, nat } = await createBridge();
  const socket = path.join(dir, 'docker.sock');
  const logFd = openSync(path.join(dir, 'dockerd.log'), 'a');
  const child = spawn(
    'dockerd',
    [
      '--data-root', path.join(dir, 'data'),
      '--exec-root', path.join(dir, 'exec'),
      '--pidfile', path.join(dir, 'docker.pid'),
      '--host', `unix://${socket}`,
      '--bridge', bridge,
      '--iptables=false',
      '--ip-masq=false',
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const docker = dockerClient({ DOCKER_HOST: `unix://${socket}` });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // dockerd stops its own containerd and unmounts its layers
      await Promise.race([exited, sleep(30_000, undefined, { ref: false }).then(() => child.kill('SIGKILL'))]);
      await exited;
    }
    // Whatever a killed daemon left mounted under its directories, deepest first, before removing them.
    const mounts = (await readFile('/proc/mounts', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await new Promise((resolve) => spawn('umount', ['-l', m]).once('exit', resolve));
    await rm(dir, { recursive: true, force: true });
    for (const rule of nat) await run('iptables', rule.map((a) => (a === '-A' ? '-D' : a))).catch(() => undefined);
    await ip('link', 'del', bridge).catch(() => undefined);
  };

  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`dockerd exited with ${child.exitCode}: see ${dir}/dockerd.log`);
      if (await docker.ping().then(() => true, () => false)) break;
      if (Date.now() > deadline) throw new Error(`dockerd did not answer on ${socket} within 30 s`);
      await sleep(200);
    }
  } catch (err) {
    const log = await readFile(path.join(dir, 'dockerd.log'), 'utf8').catch(() => '');
    await stop();
    throw new Error(`${(err as Error).message}\n${log.slice(-2000)}`);
  }
  return { docker, host: `unix://${socket}`, stop };
}


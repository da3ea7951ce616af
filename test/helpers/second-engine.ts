// A second Docker engine, as on another host: its own data root, socket and bridge; nothing shared with the main
// engine but the kernel and the registry. Three kinds, for the engines kiln's users run:
//   debian12            the host's own dockerd (Debian 12's 20.10, graphdriver store: `docker save` writes the
//                       legacy docker-archive)
//   docker26            Debian 13's dockerd 26.1 with the overlay2 store (`docker save` writes an OCI layout whose
//                       layers are uncompressed blobs named by their diffIDs)
//   docker26-containerd the same engine with the containerd image store, the default of fresh installs since
//                       Docker 29 (gzip-compressed layer blobs; image ids are manifest digests)
// Debian 13's engine runs in a chroot of the engine tree (stack/engine-tree.ts): a privileged container cannot start
// on these machines, and a trixie package must not go into the host.
// Used by the engine and multi-host tests and by `npm run bench:build`.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { endOnSignal } from './end-on-signal.ts';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { pino } from 'pino';
import { loadStackConfig } from '../../core/config.ts';
import { dockerClient } from '../../core/infrastructure.ts';
import { ensureEngineTree } from '../../stack/engine-tree.ts';
import { stackStateDir } from '../../stack/local-stack.ts';

const run = promisify(execFile);

export const engineKinds = ['debian12', 'docker26', 'docker26-containerd'] as const;
export type EngineKind = (typeof engineKinds)[number];

/** A second engine, as on another host: nothing shared with the main one but the kernel and the registry. */
export interface SecondEngine {
  kind: EngineKind;
  docker: Docker;
  host: string;
  /** What the engine says of itself: version and image store, e.g. "26.1.5+dfsg1, containerd image store". */
  description: string;
  stop(): Promise<void>;
}

const ip = (...args: string[]) => run('ip', args);

/**
 * The second engine's own bridge. Not `--bridge none`: a daemon started with it deletes the host's docker0 at start
 * (moby's removeDefaultBridgeInterface), which cuts the main engine's containers off the network.
 */
async function createBridge(): Promise<{ name: string; remove(): Promise<void> }> {
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
  return {
    name,
    async remove() {
      for (const rule of nat) await run('iptables', rule.map((a) => (a === '-A' ? '-D' : a))).catch(() => undefined);
      await ip('link', 'del', name).catch(() => undefined);
    },
  };
}

/** Unmounts whatever is mounted under `dir`, deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await new Promise((resolve) => spawn('umount', ['-l', m]).once('exit', resolve));
}

const daemonFlags = (bridge: string) => ['--bridge', bridge, '--iptables=false', '--ip-masq=false'];

/** The host's dockerd with a data root, exec root and socket of its own. */
function spawnHostDaemon(dir: string, bridge: string, logFd: number): { child: ChildProcess; socket: string } {
  const socket = path.join(dir, 'docker.sock');
  const child = spawn(
    'dockerd',
    ['--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '--pidfile', path.join(dir, 'docker.pid'), '--host', `unix://${socket}`, ...daemonFlags(bridge)],
    { stdio: ['ignore', logFd, logFd] },
  );
  return { child, socket };
}

/**
 * Debian 13's dockerd in a chroot: a private bind view of the engine tree (the tree itself stays untouched), with
 * this engine's data, run and config directories bound into it, and /proc, /dev and /sys from the host. In a mount
 * namespace of its own (`unshare -m`), so the mounts the engine makes for its containers go when it does.
 */
async function spawnChrootDaemon(dir: string, bridge: string, logFd: number, containerdStore: boolean, stateDir: string): Promise<{ child: ChildProcess; socket: string }> {
  const tree = await ensureEngineTree({ stateDir, log: pino({ level: 'warn' }, pino.destination(2)) });
  const root = path.join(dir, 'root');
  const own = { data: path.join(dir, 'data'), run: path.join(dir, 'run'), etc: path.join(dir, 'etc-docker') };
  for (const d of [root, ...Object.values(own)]) await mkdir(d, { recursive: true });
  await writeFile(path.join(own.etc, 'daemon.json'), JSON.stringify(containerdStore ? { features: { 'containerd-snapshotter': true } } : {}));
  const mount = (...args: string[]) => run('mount', args);
  // The view must be a mount point of its own: without it the engine's `docker import` fails remounting /.
  await mount('--bind', tree.dir, root);
  await mount('--make-private', root);
  await mount('--bind', own.data, path.join(root, 'var/lib/docker'));
  await mount('--bind', own.run, path.join(root, 'run'));
  await mount('--bind', own.etc, path.join(root, 'etc/docker'));
  await mount('--bind', '/etc/resolv.conf', path.join(root, 'etc/resolv.conf'));
  await mount('--bind', '/proc', path.join(root, 'proc'));
  await mount('--bind', '/dev', path.join(root, 'dev'));
  await mount('--bind', '/dev/pts', path.join(root, 'dev/pts'));
  await mount('--rbind', '/sys', path.join(root, 'sys'));
  await mount('--make-rslave', path.join(root, 'sys'));
  const dockerd = ['/usr/sbin/dockerd', '--data-root', '/var/lib/docker', '--exec-root', '/run/docker', '--pidfile', '/run/docker.pid', '-H', 'unix:///run/docker.sock', ...daemonFlags(bridge)];
  // `unshare` and `chroot` exec in place and the shell execs dockerd: the child's pid is the daemon's.
  const child = spawn('unshare', ['-m', 'chroot', root, 'sh', '-c', `mount --make-rprivate / && exec ${dockerd.join(' ')}`], { stdio: ['ignore', logFd, logFd] });
  return { child, socket: path.join(own.run, 'docker.sock') };
}

export async function startSecondEngine(opts: { kind?: EngineKind } = {}): Promise<SecondEngine> {
  const kind = opts.kind ?? 'debian12';
  // /var/tmp, not a tmpfs: overlay2 needs a real filesystem under its data root.
  const dir = await mkdtemp(path.join(process.env.TMPDIR ?? (kind === 'debian12' ? tmpdir() : '/var/tmp'), 'kiln-engine2-'));
  const bridge = await createBridge();
  const logFd = openSync(path.join(dir, 'dockerd.log'), 'a');
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;
  // Once: the owner's own stop and a stop on SIGTERM (end-on-signal.ts) may both ask.
  const stop = () => (stopping ??= stopOnce().finally(forget));
  const forget = endOnSignal(stop);
  const stopOnce = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // dockerd stops its own containerd and unmounts its layers
      await Promise.race([exited, sleep(30_000, undefined, { ref: false }).then(() => child?.kill('SIGKILL'))]);
      await exited;
    }
    // Whatever a killed daemon left mounted under its directories (and the chroot's binds), before removing them.
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true });
    await bridge.remove();
  };

  let socket: string;
  try {
    const started =
      kind === 'debian12'
        ? spawnHostDaemon(dir, bridge.name, logFd)
        : await spawnChrootDaemon(dir, bridge.name, logFd, kind === 'docker26-containerd', stackStateDir(loadStackConfig(process.env, path.resolve(import.meta.dirname, '../..')).dataDir));
    child = started.child;
    socket = started.socket;
    exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
  } catch (err) {
    closeSync(logFd);
    await stop();
    throw err;
  }
  closeSync(logFd);
  const docker = dockerClient({ DOCKER_HOST: `unix://${socket}` });

  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`dockerd exited with ${child.exitCode}: see ${dir}/dockerd.log`);
      if (await docker.ping().then(() => true, () => false)) break;
      if (Date.now() > deadline) throw new Error(`dockerd did not answer on ${socket} within 60 s`);
      await sleep(200);
    }
  } catch (err) {
    const log = await readFile(path.join(dir, 'dockerd.log'), 'utf8').catch(() => '');
    await stop();
    throw new Error(`${(err as Error).message}\n${log.slice(-2000)}`);
  }
  const info = (await docker.info()) as { ServerVersion?: string; Driver?: string; DriverStatus?: [string, string][] };
  const containerd = (info.DriverStatus ?? []).some(([k, v]) => k === 'driver-type' && v.includes('containerd.snapshotter'));
  const description = `${info.ServerVersion}, ${containerd ? 'containerd image store' : `${info.Driver} store`}`;
  return { kind, docker, host: `unix://${socket}`, description, stop };
}

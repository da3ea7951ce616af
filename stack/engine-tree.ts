// A Debian 13 (trixie) tree holding a current Docker engine (docker.io 26.1 with its containerd) and Compose v2, made
// once with debootstrap under the stack's state dir. Nothing is installed into the host (a trixie package would pull
// a newer libc into it): the tests and `bench:build` run that dockerd in a chroot beside the host's Debian 12 engine,
// as another host would run it (test/helpers/second-engine.ts), and the deployment test runs its Compose v2.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { withLock } from './lock.ts';
import { logFile, run } from './process.ts';
import { hostMirror, removeTree } from './root-image.ts';

export const ENGINE_TREE_SUITE = 'trixie';
/** What the tree holds: the engine (containerd and runc come with it), what it needs to run, and Compose v2. */
export const ENGINE_TREE_PACKAGES = ['docker.io', 'iptables', 'ca-certificates', 'docker-compose'] as const;

export interface EngineTree {
  /** The tree's root directory (a chroot target). */
  dir: string;
  /** `dockerd --version` inside it, e.g. "Docker version 26.1.5+dfsg1, build 411e817". */
  dockerVersion: string;
  /** Compose v2, a host-runnable binary (it needs only libc). */
  compose: string;
}

const MARKER = '.kiln-engine-tree';

/** Where each engine started from the tree binds directories of its own (its data, run dir and daemon.json). */
export const ENGINE_MOUNT_POINTS = ['var/lib/docker', 'run', 'etc/docker'] as const;

async function describe(dir: string): Promise<EngineTree> {
  for (const p of ENGINE_MOUNT_POINTS) await fs.mkdir(path.join(dir, p), { recursive: true });
  const v = await run('chroot', [dir, '/usr/sbin/dockerd', '--version']);
  if (v.code !== 0) throw new Error(`the engine tree ${dir} cannot run its dockerd: ${(v.stderr || v.stdout).trim()}`);
  return { dir, dockerVersion: v.stdout.trim(), compose: path.join(dir, 'usr/libexec/docker/cli-plugins/docker-compose') };
}

/**
 * The engine tree, made when missing (about 30–60 s, 650 MB) and kept: a tree is complete only once its marker names
 * the package list it was made with, so an interrupted debootstrap or a changed list makes it anew.
 */
export async function ensureEngineTree(opts: { stateDir: string; log: Logger; mirror?: string }): Promise<EngineTree> {
  const dir = path.join(opts.stateDir, 'engine-tree', ENGINE_TREE_SUITE);
  const want = `${ENGINE_TREE_SUITE} ${ENGINE_TREE_PACKAGES.join(',')}\n`;
  const complete = async () => (await fs.readFile(path.join(dir, MARKER), 'utf8').catch(() => '')) === want;
  if (await complete()) return describe(dir);
  return withLock(opts.stateDir, 'engine-tree', 20 * 60_000, opts.log, async () => {
    if (await complete()) return describe(dir); // made by whoever held the lock before us
    await removeTree(dir, opts.log);
    await fs.mkdir(path.dirname(dir), { recursive: true });
    const mirror = opts.mirror ?? (await hostMirror(ENGINE_TREE_SUITE));
    const args = ['--variant=minbase', `--include=${ENGINE_TREE_PACKAGES.join(',')}`, ENGINE_TREE_SUITE, dir, mirror];
    const t0 = Date.now();
    opts.log.info({ dir, suite: ENGINE_TREE_SUITE, mirror }, 'making the engine tree (debootstrap)');
    const r = await run('debootstrap', args, { timeoutMs: 20 * 60_000 });
    const lf = logFile(opts.stateDir, 'debootstrap-engine-tree');
    await fs.mkdir(path.dirname(lf), { recursive: true });
    await fs.writeFile(lf, `debootstrap ${args.join(' ')}\nexit ${r.code}\n${r.stdout}${r.stderr}`);
    if (r.code !== 0) {
      await removeTree(dir, opts.log);
      throw new Error(`debootstrap of the engine tree failed (exit ${r.code}); log ${lf}:\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);
    }
    // Package lists and downloaded .debs only take space: nothing installs into the tree after this.
    for (const sub of ['var/lib/apt/lists', 'var/cache/apt/archives']) {
      for (const e of await fs.readdir(path.join(dir, sub)).catch(() => [] as string[])) {
        if (e !== 'partial' && e !== 'lock') await fs.rm(path.join(dir, sub, e), { recursive: true, force: true });
      }
    }
    const tree = await describe(dir);
    await fs.writeFile(path.join(dir, MARKER), want);
    opts.log.info({ dir, ms: Date.now() - t0, engine: tree.dockerVersion }, 'engine tree ready');
    return tree;
  });
}

// Makes sure a root image (e.g. kiln-root:debian-bookworm) exists locally: pull it, else debootstrap + docker import.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { withLock } from './lock.ts';
import { logFile, run } from './process.ts';

export interface DebootstrapSpec {
  suite: string;
  variant: string;
  components: string[];
}

export interface RootImageOptions {
  docker: Docker;
  /** local name to produce, e.g. kiln-root:debian-bookworm */
  image: string;
  /** registry reference to try first, e.g. debian:bookworm-slim */
  pull?: string;
  debootstrap: DebootstrapSpec;
  stateDir: string;
  log: Logger;
  /** overrides the mirror read from the host's apt sources */
  mirror?: string;
  /** how long to give the pull before falling back (no registry is reachable on some hosts) */
  pullTimeoutMs?: number;
}

export type RootImageSource = 'present' | 'pulled' | 'debootstrap';

function splitRef(ref: string): { repo: string; tag: string } {
  const i = ref.lastIndexOf(':');
  return i > ref.lastIndexOf('/') ? { repo: ref.slice(0, i), tag: ref.slice(i + 1) } : { repo: ref, tag: 'latest' };
}

export async function imageExists(docker: Docker, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return false;
    throw e;
  }
}

/** Reads a Docker JSON progress stream to its end; such streams report failures in-band (HTTP status stays 200). */
function drainProgress(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let failure: string | null = null;
    const scan = (line: string) => {
      if (!line.trim()) return;
      try {
        const ev = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
        if (ev.error || ev.errorDetail) failure ??= ev.errorDetail?.message ?? ev.error ?? 'unknown error';
      } catch {
        /* not JSON: ignore */
      }
    };
    stream.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      lines.forEach(scan);
    });
    stream.on('error', reject);
    stream.on('end', () => {
      scan(buf);
      if (failure) reject(new Error(failure));
      else resolve();
    });
  });
}

async function pullAndTag(o: RootImageOptions, ref: string): Promise<void> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), o.pullTimeoutMs ?? 20000);
  try {
    const stream = await o.docker.pull(ref, { abortSignal: ac.signal });
    await Promise.race([
      drainProgress(stream),
      new Promise((_, rej) => ac.signal.addEventListener('abort', () => rej(new Error('pull timed out')))),
    ]);
  } finally {
    clearTimeout(timer);
  }
  await o.docker.getImage(ref).tag(splitRef(o.image));
}

/**
 * The Debian mirror this host already uses (deb822 .sources first, then one-line .list files), so no host name is
 * baked into the code. Prefers an entry listing `suite` itself; else any non-security entry (same archive serves
 * every suite).
 */
export async function hostMirror(suite: string): Promise<string> {
  const dir = '/etc/apt/sources.list.d';
  const names = (await fs.readdir(dir).catch(() => [] as string[])).sort((a, b) => Number(b === 'debian.sources') - Number(a === 'debian.sources'));
  const entries: { uri: string; suites: string[] }[] = [];
  for (const n of names.filter((n) => n.endsWith('.sources'))) {
    const text = await fs.readFile(path.join(dir, n), 'utf8').catch(() => '');
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (k: string) => stanza.split('\n').find((l) => l.toLowerCase().startsWith(`${k.toLowerCase()}:`))?.slice(k.length + 1).trim().split(/\s+/) ?? [];
      if (!field('Types').includes('deb') || field('Enabled')[0]?.toLowerCase() === 'no') continue;
      for (const uri of field('URIs')) entries.push({ uri, suites: field('Suites') });
    }
  }
  const lists = ['/etc/apt/sources.list', ...names.filter((n) => n.endsWith('.list')).map((n) => path.join(dir, n))];
  for (const f of lists) {
    for (const raw of (await fs.readFile(f, 'utf8').catch(() => '')).split('\n')) {
      const words = raw.replace(/#.*/, '').replace(/\[[^\]]*\]/, '').trim().split(/\s+/);
      if (words[0] === 'deb' && words[1] && words[2]) entries.push({ uri: words[1], suites: [words[2]] });
    }
  }
  const http = entries.filter((e) => /^https?:\/\//.test(e.uri));
  const pick = http.find((e) => e.suites.includes(suite)) ?? http.find((e) => !e.suites.some((s) => s.endsWith('-security')));
  if (!pick) throw new Error(`no usable Debian mirror for ${suite} in the host's apt sources (/etc/apt/sources.list{,.d})`);
  return pick.uri.replace(/\/+$/, '');
}

/** Unmounts anything debootstrap left mounted inside dir, then deletes it; refuses to recurse through a mount. */
export async function removeTree(dir: string, log: Logger): Promise<void> {
  const mounts = (await fs.readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n').map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length); // deepest first
  for (const m of mounts) {
    const r = await run('umount', ['-l', m]);
    if (r.code !== 0) throw new Error(`cannot unmount ${m} (left by debootstrap); not deleting ${dir}: ${r.stderr.trim()}`);
    log.warn({ mount: m }, 'unmounted leftover mount before cleanup');
  }
  await fs.rm(dir, { recursive: true, force: true });
}

async function debootstrapAndImport(o: RootImageOptions): Promise<void> {
  const { suite, variant, components } = o.debootstrap;
  const mirror = o.mirror ?? (await hostMirror(suite));
  const tmpRoot = path.join(o.stateDir, 'tmp');
  await fs.mkdir(tmpRoot, { recursive: true });
  // On the state dir's disk rather than /tmp (may be a small tmpfs): the tree is ~200 MB.
  const dir = await fs.mkdtemp(path.join(tmpRoot, 'rootfs-'));
  const lf = logFile(o.stateDir, `debootstrap-${o.image.replace(/[^A-Za-z0-9._-]/g, '_')}`);
  try {
    let t0 = Date.now();
    o.log.info({ image: o.image, suite, variant, mirror, dir }, 'debootstrap starting');
    const args = [`--variant=${variant}`, `--components=${components.join(',')}`, suite, dir, mirror];
    const r = await run('debootstrap', args, { timeoutMs: 30 * 60000 });
    await fs.mkdir(path.dirname(lf), { recursive: true });
    await fs.writeFile(lf, `debootstrap ${args.join(' ')}\nexit ${r.code}\n${r.stdout}${r.stderr}`);
    if (r.code !== 0) {
      throw new Error(`debootstrap for ${o.image} failed (exit ${r.code}); log ${lf}:\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);
    }
    o.log.info({ image: o.image, ms: Date.now() - t0 }, 'debootstrap done');

    // All requested components (contrib/non-free for CUDA later), not just the `main` debootstrap writes.
    await fs.writeFile(path.join(dir, 'etc/apt/sources.list'), `deb ${mirror} ${suite} ${components.join(' ')}\n`);
    // Package lists and .debs are stale the moment the image is built and only add size; builds run apt-get update.
    for (const sub of ['var/lib/apt/lists', 'var/cache/apt/archives']) {
      const p = path.join(dir, sub);
      for (const e of await fs.readdir(p).catch(() => [] as string[])) {
        if (e !== 'partial' && e !== 'lock') await fs.rm(path.join(p, e), { recursive: true, force: true });
      }
    }
    for (const e of await fs.readdir(path.join(dir, 'var/cache/apt')).catch(() => [] as string[])) {
      if (e.endsWith('.bin')) await fs.rm(path.join(dir, 'var/cache/apt', e), { force: true });
    }

    t0 = Date.now();
    const { repo, tag } = splitRef(o.image);
    const tar = spawn('tar', ['--numeric-owner', '-C', dir, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tarErr = '';
    tar.stderr.on('data', (d: Buffer) => (tarErr += d.toString()));
    const tarDone = new Promise<number | null>((res) => tar.on('close', res));
    // No CMD in an imported image means `docker run IMAGE` with no command fails; give it a shell like debian:*.
    const stream = await o.docker.importImage(tar.stdout, { repo, tag, changes: ['CMD ["bash"]'] });
    await drainProgress(stream);
    const tarCode = await tarDone;
    if (tarCode !== 0) throw new Error(`tar of ${dir} failed (exit ${tarCode}): ${tarErr.trim()}`);
    if (!(await imageExists(o.docker, o.image))) throw new Error(`docker import reported success but ${o.image} is missing`);
    o.log.info({ image: o.image, ms: Date.now() - t0 }, 'docker import done');
  } finally {
    await removeTree(dir, o.log);
  }
}

/**
 * Idempotent: returns at once when the image exists. Otherwise holds a per-image lock (so concurrent callers do not
 * debootstrap twice), tries the pull, then falls back to debootstrap.
 */
export async function ensureRootImage(o: RootImageOptions): Promise<RootImageSource> {
  if (await imageExists(o.docker, o.image)) return 'present';
  return withLock(o.stateDir, `root-${o.image}`, 30 * 60000, o.log, async () => {
    if (await imageExists(o.docker, o.image)) return 'present'; // built by whoever held the lock before us
    if (o.pull) {
      const t0 = Date.now();
      try {
        await pullAndTag(o, o.pull);
        o.log.info({ image: o.image, from: o.pull, ms: Date.now() - t0 }, 'root image pulled');
        return 'pulled';
      } catch (e) {
        o.log.warn({ image: o.image, from: o.pull, ms: Date.now() - t0, err: (e as Error).message }, 'pull failed; using debootstrap');
      }
    }
    await debootstrapAndImport(o);
    return 'debootstrap';
  });
}

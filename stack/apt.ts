// Installs the Debian packages the local stack needs, and only when one of their binaries is missing.
import type { Logger } from 'pino';
import { run, which } from './process.ts';

export interface PackageNeed {
  /** command name looked up on PATH (+ sbin dirs), or an absolute path */
  binary: string;
  /** Debian package that provides it */
  pkg: string;
}

/** Package names (deduplicated, in order) whose binary is not present. */
export async function missingPackages(pkgs: PackageNeed[]): Promise<string[]> {
  const missing: string[] = [];
  for (const p of pkgs) {
    if (!missing.includes(p.pkg) && (await which(p.binary)) === null) missing.push(p.pkg);
  }
  return missing;
}

async function aptGet(args: string[], log: Logger): Promise<void> {
  const t0 = Date.now();
  // Lock::Timeout makes a concurrent apt/dpkg (another caller, unattended upgrades) a wait rather than a failure.
  const r = await run('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], {
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.code !== 0) {
    throw new Error(`apt-get ${args.join(' ')} failed (exit ${r.code}):\n${(r.stderr || r.stdout).trim().slice(-3000)}`);
  }
  log.info({ args, ms: Date.now() - t0 }, 'apt-get done');
}

/**
 * Ensures every binary is available. Does nothing (no apt-get at all, so no network and no root needed) when all
 * are present; otherwise one `apt-get update` then one install of everything missing. Returns what was installed.
 */
export async function ensurePackages(pkgs: PackageNeed[], log: Logger): Promise<string[]> {
  const missing = await missingPackages(pkgs);
  if (missing.length === 0) {
    log.debug('all packages present');
    return [];
  }
  if (process.getuid?.() !== 0) {
    throw new Error(`missing packages ${missing.join(' ')} and not root: install them with apt-get`);
  }
  log.info({ missing }, 'installing packages');
  await aptGet(['update'], log);
  await aptGet(['install', '-y', '--no-install-recommends', ...missing], log);
  const still = await missingPackages(pkgs);
  if (still.length > 0) throw new Error(`apt-get install succeeded but binaries are still missing for: ${still.join(' ')}`);
  return missing;
}

// Starts Debian's docker-registry (distribution 2.8) on 127.0.0.1:5000 with our own config when /v2/ does not answer.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import YAML from 'yaml';
import { adoptFromPidFile, ensureProcess, httpGet, run, which, type StartedService } from './process.ts';

export const REGISTRY_HOST = '127.0.0.1:5000';
const MATCH = 'docker-registry';

export interface RegistryOptions {
  stateDir: string;
  log: Logger;
  readyTimeoutMs?: number;
}

export async function probeRegistry(): Promise<boolean> {
  return (await httpGet(`http://${REGISTRY_HOST}/v2/`))?.status === 200;
}

/**
 * Our own config because Debian's /etc/docker/registry/config.yml is broken here (htpasswd path is a directory, so
 * every request gets 401). No auth: it listens on loopback only. Delete enabled so kiln can garbage-collect tags.
 */
export function registryConfig(stateDir: string): string {
  return YAML.stringify({
    version: 0.1,
    // accesslog off: every readiness probe would otherwise add a line.
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: path.join(stateDir, 'registry', 'data') },
      delete: { enabled: true },
    },
    http: { addr: REGISTRY_HOST },
  });
}

/**
 * Deleting a tag (kiln's retired templates, every test's cleanup) leaves its layers on disk; the registry's own
 * garbage collector frees them, but only while no registry serves the storage — so here, before we start one.
 */
async function collectGarbage(config: string, log: Logger): Promise<void> {
  // A registry that never stored a repository has nothing to collect (and the collector fails on it).
  const repositories = path.join(path.dirname(config), 'data', 'docker', 'registry', 'v2', 'repositories');
  if (!(await fs.stat(repositories).then(() => true, () => false))) return;
  const t0 = Date.now();
  const r = await run((await which('docker-registry')) ?? 'docker-registry', ['garbage-collect', '--delete-untagged', config], { timeoutMs: 600_000 });
  if (r.code !== 0) {
    // A registry that cannot be collected can still serve: say so and go on.
    log.warn({ code: r.code, stderr: r.stderr.trim().slice(-1000) }, 'registry garbage collection failed');
    return;
  }
  const deleted = (r.stdout.match(/^blob eligible for deletion/gm) ?? []).length;
  log.info({ blobsDeleted: deleted, ms: Date.now() - t0 }, 'registry garbage collected');
}

export async function ensureRegistry(opts: RegistryOptions): Promise<StartedService | null> {
  const dir = path.join(opts.stateDir, 'registry');
  const config = path.join(dir, 'config.yml');
  return ensureProcess({
    stateDir: opts.stateDir,
    log: opts.log,
    name: 'registry',
    match: MATCH,
    port: 5000,
    probe: probeRegistry,
    prepare: async () => {
      await fs.mkdir(path.join(dir, 'data'), { recursive: true });
      await fs.writeFile(config, registryConfig(opts.stateDir)); // rewritten each start so it never drifts
      await collectGarbage(config, opts.log);
    },
    cmd: (await which('docker-registry')) ?? 'docker-registry',
    args: ['serve', config],
    readyTimeoutMs: opts.readyTimeoutMs ?? 20000,
  });
}

export function adoptRegistry(stateDir: string, log: Logger): Promise<StartedService | null> {
  return adoptFromPidFile(stateDir, 'registry', MATCH, log);
}

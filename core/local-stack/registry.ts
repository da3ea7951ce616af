// Starts Debian's docker-registry (distribution 2.8) on 127.0.0.1:5000 with our own config when /v2/ does not answer.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import YAML from 'yaml';
import { adoptFromPidFile, ensureProcess, httpGet, which, type StartedService } from './process.ts';

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
    },
    cmd: (await which('docker-registry')) ?? 'docker-registry',
    args: ['serve', config],
    readyTimeoutMs: opts.readyTimeoutMs ?? 20000,
  });
}

export function adoptRegistry(stateDir: string, log: Logger): Promise<StartedService | null> {
  return adoptFromPidFile(stateDir, 'registry', MATCH, log);
}

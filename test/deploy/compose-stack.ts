// The deployment test's stack: compose.yaml with deploy/compose.local.yaml, run by Compose v2 (Debian 13's 2.26, from
// the engine tree) against this host's engine, under a project name, ports and root-image name of its own, so that it
// shares nothing with the other tests (or engineers) on this machine. Everything it starts goes with down().
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';

const repo = path.resolve(import.meta.dirname, '../..');
export const composeFiles = [path.join(repo, 'compose.yaml'), path.join(repo, 'deploy/compose.local.yaml')];

/** CAs this host added to its trust (Debian's place for them): a TLS-inspecting proxy in front of npm's registry. */
async function localCaCerts(): Promise<string> {
  const dir = '/usr/local/share/ca-certificates';
  const files = (await readdir(dir, { recursive: true }).catch(() => [] as string[])).filter((f) => f.endsWith('.crt')).sort();
  return (await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8')))).join('\n');
}

export interface StackOptions {
  compose: string;
  docker: Docker;
  apiPort: number;
  registryPort: number;
}

export interface ContainerState {
  service: string;
  id: string;
  status: string;
  health?: string;
  exitCode: number;
  startedAt: string;
  restartCount: number;
  pid: number;
}

export class ComposeStack {
  readonly project = `kiln-deploy-${randomBytes(4).toString('hex')}`;
  readonly registry: string;
  readonly apiUrl: string;
  /** The name the builder gives the root (KILN_ROOT_IMAGE_PREFIX): one no other test uses, so the stack must make it. */
  readonly rootPrefix: string;
  /** Where the test plays Docker Hub: the stack's own registry, as a pull-through mirror would serve debian:bookworm-slim. */
  readonly mirror: string;
  private env: NodeJS.ProcessEnv = {};

  constructor(private readonly opts: StackOptions) {
    this.registry = `127.0.0.1:${opts.registryPort}`;
    this.apiUrl = `http://127.0.0.1:${opts.apiPort}`;
    this.rootPrefix = `${this.project}-root`;
    this.mirror = `${this.registry}/mirror`;
  }

  async init(): Promise<void> {
    // Only what compose.yaml and the override read (plus what compose itself needs): the test runner's own S3_*,
    // REGISTRY_* and DATABASE_URL point at the shared services and must not leak into the stack.
    this.env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DOCKER_HOST: 'unix:///var/run/docker.sock',
      BUILDKIT_PROGRESS: 'plain',
      POSTGRES_PASSWORD: randomBytes(12).toString('hex'),
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      REGISTRY_HOST: this.registry,
      REGISTRY_PLAIN_HTTP_HOSTS: this.registry,
      KILN_ROOT_IMAGE_PREFIX: this.rootPrefix,
      KILN_ROOT_PULL_MIRROR: this.mirror,
      KILN_LOCAL_API_PORT: String(this.opts.apiPort),
      KILN_LOCAL_REGISTRY_PORT: String(this.opts.registryPort),
      // The analyzer's retention schedule every 10 s: after its restart, the test sees it do work again.
      KILN_RETENTION_INTERVAL_SECONDS: '10',
      BUILD_CA_CERTS: await localCaCerts(),
    };
  }

  /** `compose …` for this project; rejects with everything it printed when it fails. */
  run(args: string[], timeoutMs = 900_000): Promise<string> {
    const files = composeFiles.flatMap((f) => ['-f', f]);
    return new Promise((resolve, reject) => {
      const child = spawn(this.opts.compose, ['-p', this.project, ...files, ...args], { cwd: repo, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(out);
        else reject(new Error(`compose ${args.join(' ')} failed (${code ?? signal}):\n${out.slice(-6000)}`));
      });
    });
  }

  /** Every container of the project (a one-shot that exited included). */
  async containers(): Promise<ContainerState[]> {
    const list = await this.opts.docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${this.project}`] } });
    return Promise.all(
      list.map(async (c) => {
        const i = await this.opts.docker.getContainer(c.Id).inspect();
        return {
          service: c.Labels['com.docker.compose.service']!,
          id: c.Id,
          status: i.State.Status,
          ...(i.State.Health ? { health: i.State.Health.Status } : {}),
          exitCode: i.State.ExitCode,
          startedAt: i.State.StartedAt,
          restartCount: i.RestartCount,
          pid: i.State.Pid,
        };
      }),
    );
  }

  async container(service: string): Promise<ContainerState> {
    const c = (await this.containers()).find((x) => x.service === service);
    if (!c) throw new Error(`no container of service ${service} in ${this.project}`);
    return c;
  }

  /**
   * Waits until each of `services` is running and healthy (a one-shot: exited 0) and returns, per service, the
   * milliseconds from `since` to the moment it was first seen so (polled every 250 ms).
   */
  async waitHealthy(services: string[], since: number, timeoutMs = 300_000): Promise<Record<string, number>> {
    const seen: Record<string, number> = {};
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await this.containers();
      for (const s of services) {
        if (seen[s] !== undefined) continue;
        const c = states.find((x) => x.service === s);
        if (!c) continue;
        const done = s === 's3-buckets' ? c.status === 'exited' && c.exitCode === 0 : c.status === 'running' && c.health === 'healthy';
        if (done) seen[s] = Date.now() - since;
      }
      if (services.every((s) => seen[s] !== undefined)) return seen;
      if (Date.now() > deadline) {
        const ps = states.map((c) => `${c.service}: ${c.status} ${c.health ?? ''} exit ${c.exitCode}`).join('\n');
        const logs = await this.run(['logs', '--no-color', '--tail', '40']).catch((e: Error) => e.message);
        throw new Error(`not healthy after ${timeoutMs} ms: ${services.filter((s) => seen[s] === undefined).join(', ')}\n${ps}\n${logs.slice(-8000)}`);
      }
      await sleep(250);
    }
  }

  /** Takes everything down: containers, networks, volumes (the registry's, with what the test pushed, among them). */
  async down(): Promise<void> {
    await this.run(['down', '--volumes', '--remove-orphans', '--timeout', '20'], 300_000);
  }
}

// Dev convenience: `tsx stack/stack-cli.ts up|down|status` for kiln's local services.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadCatalog } from '../core/catalog/catalog-loader.ts';
import { loadStackConfig } from '../core/config.ts';
import { configOrExit } from '../core/process-lifecycle.ts';
import { adoptDockerd, localDocker, pingDocker } from './dockerd.ts';
import { ensureLocalStack, stackStateDir, type RootSpec } from './local-stack.ts';
import { adoptPostgres, probePostgres } from './postgres.ts';
import { pidFile, readLivePid, type StartedService } from './process.ts';
import { adoptRedis, pingRedis } from './redis.ts';
import { adoptRegistry, probeRegistry } from './registry.ts';
import { imageExists } from './root-image.ts';
import { rootSpecs } from './root-specs.ts';
import { adoptS3rver, probeS3rver } from './s3rver.ts';

// Relative settings (data dir, catalog) are taken from the repository root, wherever the command is run from.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const settings = configOrExit('services', () => loadStackConfig(process.env, repoRoot));
const { dataDir } = settings;
const stateDir = stackStateDir(dataDir);
const log = pino({ level: settings.LOG_LEVEL }, pino.destination({ dest: 2, sync: true })); // stdout is for the env
const roots = async (): Promise<RootSpec[]> => rootSpecs(await loadCatalog(settings.catalogDir), settings.KILN_ROOT_IMAGE_PREFIX);

async function up(): Promise<void> {
  const t0 = Date.now();
  const stack = await ensureLocalStack({ dataDir, withPostgres: true, roots: await roots(), log });
  // Deliberately not stopping: `up` leaves the services running; their pid files let `down` find them.
  for (const [k, v] of Object.entries(stack.env)) process.stdout.write(`${k}=${v}\n`);
  log.info({ ms: Date.now() - t0, started: stack.started.map((s) => `${s.name}:${s.pid}`) }, 'up done');
}

async function down(): Promise<void> {
  // Reverse of start order; each adopt* returns null unless its pid file names a live process of the right kind.
  const adopters = [adoptPostgres, adoptS3rver, adoptRegistry, adoptRedis, adoptDockerd];
  const found = (await Promise.all(adopters.map((a) => a(stateDir, log)))).filter((s): s is StartedService => s !== null);
  if (found.length === 0) log.info({ stateDir }, 'nothing of ours is running');
  for (const s of found) await s.stop();
}

async function status(): Promise<void> {
  const docker = await pingDocker();
  const rows: [string, boolean | string, string][] = [
    ['dockerd', docker, 'dockerd'],
    ['redis', await pingRedis(), 'redis-server'],
    ['registry', await probeRegistry(), 'docker-registry'],
    ['s3rver', await probeS3rver(), 's3rver'],
    ['postgres', await probePostgres(), ''],
  ];
  for (const [name, state, match] of rows) {
    const pid = match ? await readLivePid(stateDir, name, match) : null;
    const ours = match ? (pid !== null ? `started by us, pid ${pid}` : 'not ours') : (await adoptPostgres(stateDir, log)) ? 'started by us' : 'not ours';
    const shown = state === true || state === 'ok' ? 'answering' : state === 'running' ? 'answering, kiln role missing' : 'DOWN';
    process.stdout.write(`${name.padEnd(10)} ${shown.padEnd(30)} ${state === false || state === 'down' ? '' : ours}\n`);
  }
  for (const r of await roots()) {
    const present = docker ? await imageExists(localDocker(5000), r.image) : false;
    process.stdout.write(`${r.image.padEnd(10)} ${docker ? (present ? 'present' : 'MISSING') : 'unknown (no dockerd)'}\n`);
  }
  process.stdout.write(`state dir  ${stateDir} (pid files under ${path.dirname(pidFile(stateDir, 'x'))})\n`);
}

const cmd = process.argv[2];
const commands: Record<string, () => Promise<void>> = { up, down, status };
const fn = cmd ? commands[cmd] : undefined;
if (!fn) {
  process.stderr.write('usage: tsx stack/stack-cli.ts up|down|status\n');
  process.exit(2);
}
fn().then(
  () => process.exit(0), // exit explicitly: a lingering socket in a library must not keep the CLI hanging
  (e: unknown) => {
    log.error((e as Error).message);
    process.exit(1);
  },
);

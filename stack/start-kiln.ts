// `npm start`: makes the local services run (installing what is missing), then runs api + builder + analyzer in one process on
// the embedded defaults and prints the URL. On Ctrl-C it stops kiln, then only the services it started.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateToken } from '../core/auth/api-token.ts';
import { loadCatalog } from '../core/catalog/catalog-loader.ts';
import { loadStackConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { configOrExit, runProcess } from '../core/process-lifecycle.ts';
import { startApi } from '../api/api-process.ts';
import { startBuilder } from '../builder/builder-process.ts';
import { startAnalyzer } from '../analyzer/analyzer-process.ts';
import { installEngineCa } from './engine-ca.ts';
import { ensureLocalStack } from './local-stack.ts';
import { rootSpecs } from './root-specs.ts';

// This start file is the one place allowed to build kiln's environment from defaults: it owns the local services,
// so it knows their addresses and keys. Anything set in the real environment wins.
const settings = configOrExit('start', () => loadStackConfig(process.env));
const { dataDir } = settings;
const log = createLogger({ level: settings.LOG_LEVEL, format: settings.LOG_FORMAT, name: 'kiln-stack' });
const catalog = await loadCatalog(settings.catalogDir);
const stack = await ensureLocalStack({ dataDir, withPostgres: false, roots: rootSpecs(catalog, settings.KILN_ROOT_IMAGE_PREFIX), log });

// A working admin token for local use, made once and kept in the data dir (0600): KILN_ADMIN_TOKEN if set, else this.
async function localAdminToken(dir: string): Promise<string> {
  const file = path.join(dir, 'admin-token');
  const kept = await readFile(file, 'utf8').catch(() => undefined);
  if (kept?.trim()) return kept.trim();
  const token = generateToken();
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return token;
}
const adminToken = settings.KILN_ADMIN_TOKEN ?? (await localAdminToken(dataDir));
const tokenHint = settings.KILN_ADMIN_TOKEN ? 'KILN_TOKEN="$KILN_ADMIN_TOKEN"' : `KILN_TOKEN=${adminToken}`;

await runProcess(
  'all-in-one',
  async (infra) => {
    // The engine this start file runs pushes to the same registry as kiln's client: it trusts the same private CA.
    if (infra.config.registryCa) {
      const ca = await installEngineCa(infra.config.REGISTRY_HOST, infra.config.registryCa);
      log.info({ path: ca.path }, 'the Docker engine trusts REGISTRY_CA_FILE for the registry');
    }
    const api = await startApi(infra, { host: infra.config.KILN_HOST, port: infra.config.KILN_PORT });
    const builder = await startBuilder(infra);
    const analyzer = await startAnalyzer(infra);
    const url = api.url.replace('127.0.0.1', 'localhost');
    log.info({ url, docs: `${url}/docs` }, 'kiln is running');
    process.stdout.write(
      `\nkiln is running at ${url}  (web form: ${url}/ , API docs: ${url}/docs)\n` +
        `admin token (kept in ${path.join(dataDir, 'admin-token')}); for curl and the kiln CLI:\n` +
        `  export KILN_URL=${url} ${tokenHint}\n\n`,
    );
    // Close order: stop taking HTTP requests, then let the builder finish active builds.
    return [api, builder, analyzer];
  },
  {
    // One process: the api's port serves /healthz, /readyz and /metrics. KILN_OPS_PORT is for a builder or an analyzer
    // run alone; here both would take it, and the second could not start.
    env: { ...stack.env, KILN_DATA_DIR: dataDir, KILN_ADMIN_TOKEN: adminToken, ...process.env, KILN_OPS_PORT: '' },
    onStopped: () => stack.stop(),
  },
);

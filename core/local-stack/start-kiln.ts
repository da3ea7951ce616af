// `npm start`: makes the local services run (installing what is missing), then runs api + builder in one process on
// the embedded defaults and prints the URL. On Ctrl-C it stops kiln, then only the services it started.
import path from 'node:path';
import { loadCatalog } from '../catalog/catalog-loader.ts';
import { createLogger } from '../logger.ts';
import { runProcess } from '../process-lifecycle.ts';
import { startApi } from '../../api/api-process.ts';
import { startBuilder } from '../../builder/builder-process.ts';
import { ensureLocalStack } from './local-stack.ts';
import { rootSpecs } from './root-specs.ts';

// This start file is the one place allowed to build kiln's environment from defaults: it owns the local services,
// so it knows their addresses and keys. Anything set in the real environment wins.
const dataDir = path.resolve(process.env.KILN_DATA_DIR ?? '.kiln-data');
const log = createLogger({ level: process.env.LOG_LEVEL ?? 'info', name: 'kiln-stack' });
const catalog = await loadCatalog(path.resolve(process.env.KILN_CATALOG_DIR ?? 'base-images'));
const stack = await ensureLocalStack({
  dataDir,
  withPostgres: false,
  roots: rootSpecs(catalog, process.env.KILN_ROOT_IMAGE_PREFIX ?? 'kiln-root'),
  log,
});

await runProcess(
  'all-in-one',
  async (infra) => {
    const api = await startApi(infra, { host: infra.config.KILN_HOST, port: infra.config.KILN_PORT });
    const builder = await startBuilder(infra);
    const url = api.url.replace('127.0.0.1', 'localhost');
    log.info({ url, docs: `${url}/docs` }, 'kiln is running');
    process.stdout.write(`\nkiln is running at ${url}  (API docs: ${url}/docs)\n\n`);
    // Close order: stop taking HTTP requests, then let the builder finish active builds.
    return [api, builder];
  },
  { env: { ...stack.env, KILN_DATA_DIR: dataDir, ...process.env }, onStopped: () => stack.stop() },
);

// `npm test`: the same set-up as `npm start` (install what is missing, start the services, make the root images),
// then the whole suite with node's test runner, then stops only the services this run started.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';
import { loadCatalog } from '../core/catalog/catalog-loader.ts';
import { ensureEngineTree } from '../stack/engine-tree.ts';
import { ensureLocalStack, stackStateDir } from '../stack/local-stack.ts';
import { rootSpecs } from '../stack/root-specs.ts';
import { createLogger } from '../core/logger.ts';
import { loadStackConfig } from '../core/config.ts';

const repo = path.resolve(import.meta.dirname, '..');
const settings = loadStackConfig(process.env, repo);
const { dataDir } = settings;
const log = createLogger({ level: 'info', name: 'kiln-test-setup' });

/**
 * Folders `npm test` leaves out unless named: test/deploy builds and starts the whole compose stack (several minutes
 * more than the suite can spend on this 2-core machine); `npm run test:deploy` runs it.
 */
const ONLY_WHEN_NAMED = [path.join(repo, 'test', 'deploy')];

async function testFiles(dir: string, named = false): Promise<string[]> {
  if (!named && ONLY_WHEN_NAMED.includes(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && e.name !== 'node_modules' && e.name !== 'artifacts') out.push(...(await testFiles(p)));
    else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

/** Seconds per file (`test/x.test.ts`) from a JSON file, empty when it is missing or unreadable. */
async function readDurations(file: string): Promise<Record<string, number>> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, number>) : {};
  } catch {
    return {};
  }
}

/**
 * The longest files first (known from earlier runs; files not timed yet before those, as they may be long): the
 * runner starts files in the order given as slots free up, and a file of minutes started last would run alone at the
 * end while the other slot idles. Ties keep the alphabetical order.
 */
function longestFirst(files: string[], seconds: Record<string, number>): string[] {
  const time = (f: string) => seconds[path.relative(repo, f)] ?? Infinity;
  return [...files].sort((a, b) => time(b) - time(a));
}

// Arguments narrow the run to some files: `npm test -- test/unit`.
const selected = process.argv.slice(2);
const found = (await Promise.all((selected.length ? selected : ['test']).map(async (s) => (s.endsWith('.ts') ? [path.resolve(s)] : testFiles(path.resolve(s), true))))).flat();
// Times of the last runs here (written after each run) over the ones committed with the suite (for a fresh clone).
const timesFile = path.join(dataDir, 'test-durations.json');
const times = { ...(await readDurations(path.join(repo, 'test', 'durations.json'))), ...(await readDurations(timesFile)) };
const files = longestFirst(found, times);

const catalog = await loadCatalog(settings.catalogDir);
const stack = await ensureLocalStack({ dataDir, withPostgres: true, roots: rootSpecs(catalog, settings.KILN_ROOT_IMAGE_PREFIX), log });
// Debian 13's Docker 26.1 (and Compose v2), for the tests on current engines: made once, here rather than inside the
// first test that needs it, so that no test's time includes a debootstrap.
const tree = await ensureEngineTree({ stateDir: stackStateDir(dataDir), log }).catch(async (err: unknown) => {
  await stack.stop();
  throw err;
});
log.info({ engine: tree.dockerVersion }, 'engine tree ready');

/**
 * Two files at once on two cores (`KILN_TEST_CONCURRENCY` changes it). At three the CPU stayed saturated and the suite
 * was no faster, and a test with a 3 s queue lock missed its 240 s hang guard on a machine at load 14.
 */
const concurrency = Number(process.env.KILN_TEST_CONCURRENCY ?? 2);
// node's runner through its API, not `node --test`: the command line sorts the files by name, `run` keeps the order
// given. Each file still runs in a process of its own, started like this one (tsx's loader) with this environment.
Object.assign(process.env, stack.env, { KILN_DATA_DIR: dataDir });
/** Per file, its top-level tests' seconds by name. The runner also reports the file itself as a top-level test whose
 * time is the file's process from start to exit (its tests run one after another inside): the largest is the file's. */
const seconds = new Map<string, Map<string, number>>();
let failed = false;
const stream = run({ files, concurrency }).on('test:fail', (event) => {
  if (event.nesting === 0) failed = true;
});
stream.on('test:complete', (event) => {
  if (event.nesting !== 0 || !event.file || event.details.duration_ms === undefined) return;
  const key = path.relative(repo, event.file);
  const tests = seconds.get(key) ?? new Map<string, number>();
  seconds.set(key, tests.set(event.name, event.details.duration_ms / 1000));
});
// What node's runner shows by default: spec on a terminal, TAP in a log.
const report = process.stdout.isTTY ? stream.compose(new spec()) : stream.compose(tap);
report.pipe(process.stdout, { end: false });
await finished(report);

const measured = Object.fromEntries([...seconds].map(([f, tests]) => [f, Math.round(Math.max(...tests.values()) * 10) / 10]));
await writeFile(timesFile, `${JSON.stringify({ ...(await readDurations(timesFile)), ...measured }, null, 2)}\n`);
const code = failed ? 1 : 0;
await stack.stop();
process.exit(code);

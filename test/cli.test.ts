// The `kiln` CLI as a CI job runs it, against a real kiln with a builder: `kiln build --wait` prints the log and exits
// 0 when the build succeeds and non-zero when it fails; upload, status and logs work; bad usage is exit 2. On a
// pseudo-terminal (util-linux `script`) it draws a progress bar under the log, elsewhere plain lines, and either way
// its final status comes after the last log line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { brokenCatalog, removeSlowLayers, slowCatalog } from './helpers/catalogs.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const repo = path.resolve(import.meta.dirname, '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `kiln ARGS` with stdout and stderr on one stream, as a person sees them: on a pseudo-terminal (`script` from
 * util-linux gives the CLI a terminal of its own), or on one pipe.
 */
function kilnSeen(args: string[], env: Record<string, string>, terminal: boolean): Promise<{ code: number | null; seen: string }> {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const line = [process.execPath, path.join(repo, 'bin/kiln.js'), ...args].map(quote).join(' ');
  const [cmd, cmdArgs] = terminal ? ['script', ['-qfec', line, '/dev/null']] : ['sh', ['-c', `${line} 2>&1`]];
  return new Promise((resolve) => {
    const child = spawn(cmd, cmdArgs, { cwd: repo, env: { PATH: process.env.PATH!, TERM: 'xterm', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let seen = '';
    child.stdout.on('data', (c) => (seen += c));
    child.on('exit', (code) => resolve({ code, seen }));
  });
}

/** Runs the CLI the way `npx kiln` does (its package.json bin), with KILN_URL and KILN_TOKEN. */
function kiln(args: string[], env: Record<string, string>, command: string[] = [process.execPath, path.join(repo, 'bin/kiln.js')]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, [...command.slice(1), ...args], { cwd: repo, env: { PATH: process.env.PATH!, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('kiln CLI', () => {
  let server: TestKiln;
  let dir: string;
  let env: Record<string, string>;
  let script: string;
  const nonce = `${Date.now()}`;
  // A second version of `slow` for a second build that must run its step too (the first leaves it in the layer cache).
  const nonce2 = `${nonce}2`;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-cli-'));
    // The shipped catalog with `broken` (cannot install) and `slow` (a step of 6 s that really runs: time to watch it).
    const catalog = await brokenCatalog(dir);
    await cp(path.join(await slowCatalog(path.join(dir, 'slow'), { seconds: 6, nonce }), 'components/slow'), path.join(catalog, 'components/slow'), { recursive: true });
    const second = await slowCatalog(path.join(dir, 'slow2'), { seconds: 6, nonce: nonce2 });
    await cp(path.join(second, `components/slow/1-${nonce2}.yaml`), path.join(catalog, `components/slow/1-${nonce2}.yaml`));
    server = await startTestKiln({ builder: true, env: { KILN_CATALOG_DIR: catalog } });
    env = { KILN_URL: server.url, KILN_TOKEN: server.token };
    script = path.join(dir, 'hello.sh');
    await writeFile(script, '#!/bin/sh\necho "hello from the cli"\n', { mode: 0o755 });
  });
  after(async () => {
    if (server) await removeSlowLayers(server.infra.docker, nonce, nonce2);
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('kiln build --wait exits 0 for a build that succeeds, printing its log; status and logs read it back', async () => {
    const run = await kiln(['build', '--binary', script, '--image', 'cli/hello:1', '--entrypoint', '/usr/local/bin/hello.sh', '--wait'], env);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /COPY .*\/usr\/local\/bin\/hello\.sh/);
    assert.match(run.stdout, /kiln: pushed .*cli\/hello:1@sha256:/);
    const imageRef = `${server.config.REGISTRY_HOST}/${server.config.REGISTRY_PREFIX}/${server.project}/cli/hello:1`;
    assert.match(run.stderr, new RegExp(`succeeded: ${imageRef.replace(/[.]/g, '\\.')}@sha256:`));
    const id = /build ([0-9a-f-]{36}) queued/.exec(run.stderr)?.[1];
    assert.ok(id, run.stderr);

    // `npx kiln`, as the package's bin: the build as JSON, and its log.
    const status = await kiln(['status', id], env, ['npx', '--no-install', 'kiln']);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(JSON.parse(status.stdout).status, 'succeeded');
    const logs = await kiln(['logs', id], env);
    assert.equal(logs.code, 0);
    assert.match(logs.stdout, /kiln: pushed/);
  });

  it('kiln build --wait exits non-zero for a build that fails, printing the log with the failing step', async () => {
    const up = await kiln(['upload', script], env);
    assert.equal(up.code, 0, up.stderr);
    const uploadId = up.stdout.trim();
    assert.match(uploadId, /^[0-9a-f-]{36}$/);

    const run = await kiln(['build', '--upload', uploadId, '--component', 'broken', '--binary-path', '/app', '--image', 'cli/broken:1', '--wait'], env);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /kiln-no-such-package/);
    assert.match(run.stdout, /failed \(permanent\)/);
    assert.match(run.stderr, /failed: step broken@1 failed/);
  });

  it('kiln build --wait draws a progress bar on a terminal and plain lines elsewhere; the final status comes after the last log line', async () => {
    const args = (tag: string, slow: string) => ['build', '--binary', script, '--image', `cli/progress:${tag}`, '--entrypoint', '/usr/local/bin/hello.sh', '--component', slow, '--wait'];

    const piped = await kilnSeen(args('piped', 'slow'), env, false);
    assert.equal(piped.code, 0, piped.seen);
    assert.doesNotMatch(piped.seen, /\x1b|\r/, 'no terminal control where no terminal is');
    const lines = piped.seen.trimEnd().split('\n');
    assert.match(lines[0]!, /^uploaded /);
    assert.match(lines[1]!, /^build [0-9a-f-]{36} queued.*: about .+ \(.+\), installed$/, 'the answer says how long and which way');
    assert.ok(lines.some((l) => /^build [0-9a-f-]{36}: running · step 1\/3: installing slow@1-\d+ · .+ so far · about .+ left$/.test(l)), 'a line for the step');
    assert.ok(lines.some((l) => l === 'slow-line-6'), 'the log itself');
    assert.match(lines.at(-1)!, /^succeeded: \S+cli\/progress:piped@sha256:[0-9a-f]{64} \(took .+; estimated .+\)$/);
    assert.match(lines.at(-2)!, /^kiln: pushed \S+cli\/progress:piped@sha256:/, 'the last log line, right before the final status');

    const tty = await kilnSeen(args('tty', `slow@1-${nonce2}`), env, true);
    assert.equal(tty.code, 0, tty.seen);
    assert.match(tty.seen, /\r\x1b\[K\[[#-]+\]\s+\d+% running · step 1\/3: (installing|from the layer cache:) slow/, 'a bar that is redrawn in place');
    // What remains on the screen: each redraw wipes the bar before the log goes on.
    const screen = tty.seen.replace(/\r\n/g, '\n').split('\n').map((l) => l.split('\r\x1b[K').at(-1)!).filter((l) => l.trim());
    assert.match(screen.at(-1)!, /^succeeded: \S+cli\/progress:tty@sha256:/);
    assert.match(screen.at(-2)!, /^kiln: pushed \S+cli\/progress:tty@sha256:/);
    assert.ok(screen.every((l) => !/\[[#-]+\]/.test(l) || /^\[[#-]+\]/.test(l)), 'no bar left in the middle of a log line');
  });

  it('refusals and bad usage have their own exit codes and say why', async () => {
    const invalid = await kiln(['build', '--binary', script, '--image', 'Not An Image', '--component', 'nosuch'], env);
    assert.equal(invalid.code, 3);
    assert.match(invalid.stderr, /400 .*\n\s+- components\[0\]: unknown component "nosuch".*\n\s+- image:/);
    const unauthorized = await kiln(['status', '00000000-0000-4000-8000-000000000000'], { ...env, KILN_TOKEN: 'kiln_wrong' });
    assert.equal(unauthorized.code, 3);
    assert.match(unauthorized.stderr, /401 Unauthorized[\s\S]*authorization: invalid token/);
    const usage = await kiln(['build', '--image', 'a/b:1'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /exactly one of --binary FILE or --upload ID/);
    const noToken = await kiln(['status', 'x'], { KILN_URL: server.url });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /KILN_TOKEN/);
  });
});

// The `kiln` CLI as a CI job runs it, against a real kiln with a builder: `kiln build --wait` prints the log and exits
// 0 when the build succeeds and non-zero when it fails; upload, status and logs work; bad usage is exit 2.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { brokenCatalog } from './helpers/catalogs.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const repo = path.resolve(import.meta.dirname, '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
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
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-cli-'));
    server = await startTestKiln({ builder: true, env: { KILN_CATALOG_DIR: await brokenCatalog(dir) } });
    env = { KILN_URL: server.url, KILN_TOKEN: server.token };
    script = path.join(dir, 'hello.sh');
    await writeFile(script, '#!/bin/sh\necho "hello from the cli"\n', { mode: 0o755 });
  });
  after(async () => {
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

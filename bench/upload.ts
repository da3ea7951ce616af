// `npm run bench:upload`: streams 1 GiB through POST /v1/uploads of a real api process, then the same bytes with one
// raw S3 PutObject, in the same run; prints both throughputs and the api's RSS at rest and at its peak. Fails (exit 1)
// when the api's RSS peaks at 200 MB or more. The api runs as a child process so its RSS is its own (read from /proc/<pid>/status:
// VmHWM is the kernel's record of the peak); the bytes are generated on the fly, so no 1 GiB file is ever written.
import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import pg from 'pg';
import { generateToken } from '../core/auth/api-token.ts';
import { createS3Client } from '../core/blob-store.ts';
import { ensureLocalStack } from '../stack/local-stack.ts';
import { loadStackConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';

const { values: args } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, 'max-rss-mb': { type: 'string', default: '200' } } });
const BYTES = Number(args.mib) * 1024 * 1024;
const MAX_RSS_MB = Number(args['max-rss-mb']);
const CHUNK = 1024 * 1024;
const repo = path.resolve(import.meta.dirname, '..');
const log = createLogger({ level: 'warn', name: 'bench-upload' });

/** `total` deterministic pseudo-random bytes (AES-CTR keystream): the same bytes for both runs, never on disk. */
function generated(total: number, seed: Buffer): Readable {
  const cipher = createCipheriv('aes-128-ctr', seed, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  let left = total;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(CHUNK, left);
      left -= n;
      this.push(cipher.update(n === CHUNK ? zeros : zeros.subarray(0, n)));
    },
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** VmRSS / VmHWM of a process, in MB. */
async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

function upload(url: string, token: string, body: Readable, length: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/uploads?filename=bench.bin`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': length },
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    body.pipe(req);
  });
}

const stack = await ensureLocalStack({ dataDir: loadStackConfig(process.env, repo).dataDir, withPostgres: true, roots: [], log });
const id = randomBytes(4).toString('hex');
const bucket = `kiln-bench-${id}`;
const dbName = `kiln_bench_${id}`;
const adminUrl = stack.env.TEST_POSTGRES_URL!;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const dbUrl = new URL(adminUrl);
dbUrl.pathname = `/${dbName}`;
const port = await freePort();
const token = generateToken();
const s3 = createS3Client({ S3_ENDPOINT: stack.env.S3_ENDPOINT, S3_REGION: 'us-east-1', S3_ACCESS_KEY_ID: stack.env.S3_ACCESS_KEY_ID!, S3_SECRET_ACCESS_KEY: stack.env.S3_SECRET_ACCESS_KEY!, S3_FORCE_PATH_STYLE: true });

// The api as production runs it (compose.yaml, Dockerfile): bundled, plain node, no TypeScript loader; on PostgreSQL.
const built = spawnSync('npm', ['run', '--silent', 'api:build'], { cwd: repo, stdio: 'inherit' });
if (built.status !== 0) throw new Error('npm run api:build failed');
const api = spawn(process.execPath, ['api/dist/server.mjs'], {
  cwd: repo,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, ...stack.env, DATABASE_URL: dbUrl.toString(), S3_BUCKET: bucket, KILN_PORT: String(port), KILN_ADMIN_TOKEN: token, KILN_QUEUE_PREFIX: `kiln-bench-${id}`, LOG_LEVEL: 'warn' },
});
const url = `http://127.0.0.1:${port}`;
let failed = false;
try {
  for (let i = 0; ; i++) {
    if (api.exitCode !== null) throw new Error(`the api exited with ${api.exitCode}`);
    const up = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (up) break;
    if (i > 300) throw new Error('the api did not start in 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  // Warm the route (JIT, S3 and db connections) so the baseline is the api at rest, ready to serve.
  await upload(url, token, Readable.from([Buffer.from('warm-up')]), 7);
  const baseline = await memory(api.pid!);

  const seed = randomBytes(16);
  const expected = createHash('sha256');
  const source = generated(BYTES, seed);
  source.on('data', (c: Buffer) => expected.update(c));
  let sampled = 0;
  const sampler = setInterval(() => void memory(api.pid!).then((m) => (sampled = Math.max(sampled, m.rss)), () => undefined), 100);
  const t0 = performance.now();
  const res = await upload(url, token, source, BYTES);
  const kilnSeconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const after = await memory(api.pid!);
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${res.text}`);
  const stored = JSON.parse(res.text) as { sha256: string; size: number };
  if (stored.sha256 !== expected.digest('hex') || stored.size !== BYTES) throw new Error('kiln stored other bytes than were sent');

  const t1 = performance.now();
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'raw-put', Body: generated(BYTES, seed), ContentLength: BYTES }));
  const rawSeconds = (performance.now() - t1) / 1000;

  // The same multipart upload kiln does (5 MiB parts, one in flight), straight from this process: what the S3 side
  // costs, so the gap to PutObject is split into kiln's part and the multipart protocol's (s3rver reassembles parts).
  const t2 = performance.now();
  await new Upload({ client: s3, params: { Bucket: bucket, Key: 'raw-multipart', Body: generated(BYTES, seed) }, queueSize: 1, partSize: 5 * 1024 * 1024 }).done();
  const multipartSeconds = (performance.now() - t2) / 1000;

  const mib = BYTES / 1024 / 1024;
  const peak = after.peak;
  console.log(`upload of ${mib} MiB (generated, same bytes both ways)`);
  console.log(`  kiln POST /v1/uploads   ${kilnSeconds.toFixed(2)} s  ${(mib / kilnSeconds).toFixed(0)} MiB/s`);
  console.log(`  raw S3 PutObject        ${rawSeconds.toFixed(2)} s  ${(mib / rawSeconds).toFixed(0)} MiB/s`);
  console.log(`  raw multipart Upload    ${multipartSeconds.toFixed(2)} s  ${(mib / multipartSeconds).toFixed(0)} MiB/s  (5 MiB parts, as kiln)`);
  console.log(`  kiln / raw PutObject    ${(rawSeconds / kilnSeconds).toFixed(2)}`);
  console.log(`  kiln / raw multipart    ${(multipartSeconds / kilnSeconds).toFixed(2)}`);
  const grown = peak - baseline.rss;
  console.log(`api RSS: at rest ${baseline.rss.toFixed(0)} MB, highest sampled during the upload ${sampled.toFixed(0)} MB, peak (VmHWM) ${peak.toFixed(0)} MB`);
  console.log(`  the upload took the api from ${baseline.rss.toFixed(0)} MB at rest to ${peak.toFixed(0)} MB: +${grown.toFixed(0)} MB for ${mib} MiB (limit: peak under ${MAX_RSS_MB} MB)`);
  if (!(peak < MAX_RSS_MB)) {
    failed = true;
    console.log(`FAIL: the api's RSS peaked at ${peak.toFixed(0)} MB, not under ${MAX_RSS_MB} MB`);
  }
} finally {
  api.kill('SIGTERM');
  await new Promise((r) => (api.exitCode !== null ? r(null) : api.once('exit', r)));
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket })).catch(() => undefined);
  for (const o of listed?.Contents ?? []) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
  await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
  s3.destroy();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  await stack.stop();
}
process.exit(failed ? 1 : 0);

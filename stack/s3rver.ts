// Starts the s3rver npm package (file-backed S3 API; no real S3 server is installable here) on 127.0.0.1:4568.
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Logger } from 'pino';
import { adoptFromPidFile, ensureProcess, httpGet, type StartedService } from './process.ts';

export const S3_PORT = 4568;
export const S3_ENDPOINT = `http://127.0.0.1:${S3_PORT}`;
/** Bucket created at startup so kiln can use it straight away (s3rver's --configure-bucket is idempotent). */
export const S3_BUCKET = 'kiln';
// s3rver's fixed credentials; it accepts only these.
export const S3_ACCESS_KEY_ID = 'S3RVER';
export const S3_SECRET_ACCESS_KEY = 'S3RVER';
const MATCH = 's3rver';

export interface S3rverOptions {
  stateDir: string;
  log: Logger;
  readyTimeoutMs?: number;
}

/** s3rver answers an unsigned GET / with a ListAllMyBucketsResult; anything else on the port is not s3rver. */
export async function probeS3rver(): Promise<boolean> {
  const r = await httpGet(`${S3_ENDPOINT}/`);
  return r !== null && r.status === 200 && r.body.includes('ListAllMyBucketsResult');
}

export async function ensureS3rver(opts: S3rverOptions): Promise<StartedService | null> {
  // Resolved from this package's node_modules, so it works whatever the caller's cwd is.
  const bin = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
  // Drop NODE_OPTIONS: under tsx it may carry loader flags the plain-JS server neither needs nor should depend on.
  const { NODE_OPTIONS: _drop, ...env } = process.env;
  return ensureProcess({
    stateDir: opts.stateDir,
    log: opts.log,
    name: 's3rver',
    match: MATCH,
    port: S3_PORT,
    probe: probeS3rver,
    // Plain node (not tsx) and its own session with stdio on a file: nothing ties it to the caller's lifetime.
    cmd: process.execPath,
    args: [
      bin, '--directory', path.join(opts.stateDir, 's3'), '--address', '127.0.0.1', '--port', String(S3_PORT),
      '--silent', '--configure-bucket', S3_BUCKET,
    ],
    env: { ...env, NODE_OPTIONS: '' },
    readyTimeoutMs: opts.readyTimeoutMs ?? 20000,
  });
}

export function adoptS3rver(stateDir: string, log: Logger): Promise<StartedService | null> {
  return adoptFromPidFile(stateDir, 's3rver', MATCH, log);
}

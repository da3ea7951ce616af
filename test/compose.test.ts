// compose.yaml cannot run here (nothing can be pulled), so Debian's docker-compose validates it and we check its shape.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const run = promisify(execFile);
const file = path.resolve(import.meta.dirname, '../compose.yaml');
const secrets = { POSTGRES_PASSWORD: 'p', MINIO_ROOT_USER: 'u', MINIO_ROOT_PASSWORD: 'secret-pw' };

describe('compose.yaml', () => {
  it('is valid and describes the production-like stack', async () => {
    const { stdout } = await run('docker-compose', ['-f', file, 'config'], { env: { ...process.env, ...secrets } });
    const config = parse(stdout) as { services: Record<string, any> };
    assert.deepEqual(Object.keys(config.services).sort(), ['api', 'builder', 'minio', 'postgres', 'redis', 'registry']);
    assert.deepEqual(config.services.redis.command, ['redis-server', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction']);
    const mounts = JSON.stringify(config.services.builder.volumes);
    assert.match(mounts, /\/var\/run\/docker\.sock/);
    assert.equal(config.services.api.environment.DATABASE_URL, 'postgres://kiln:p@postgres:5432/kiln');
    assert.equal(config.services.builder.environment.S3_ENDPOINT, 'http://minio:9000');
  });

  it('refuses to render without its secrets, naming them', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(k in secrets)));
    await assert.rejects(run('docker-compose', ['-f', file, 'config'], { env }), /POSTGRES_PASSWORD|MINIO_ROOT_USER/);
  });
});

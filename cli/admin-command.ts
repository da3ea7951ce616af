// `kiln admin create-token`: the way to a first admin token without KILN_ADMIN_TOKEN. It runs where kiln's database
// is (same DATABASE_URL or data dir), writes the token's hash there and prints the token once.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createTokenService } from '../core/auth/token-service.ts';
import { loadDatabaseConfig } from '../core/config.ts';
import { openDatabase } from '../core/db/database.ts';
import { createProjectStore } from '../core/db/project-store.ts';
import { UsageError } from './kiln-api.ts';

export async function createAdminToken(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { name: { type: 'string', default: 'admin' }, project: { type: 'string' } },
  });
  if (positionals.join(' ') !== 'create-token') throw new UsageError('kiln admin create-token [--name NAME] [--project PROJECT]');
  const config = loadDatabaseConfig(process.env);
  // Logs to stderr: stdout carries only the token, so `TOKEN=$(kiln admin create-token)` works.
  const log = pino({ level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL }, pino.destination(2));
  const database = await openDatabase({
    ...(config.DATABASE_URL ? { url: config.DATABASE_URL } : {}),
    pgliteDir: path.join(config.dataDir, 'pglite'),
    log,
  });
  try {
    const tokens = createTokenService({ store: createProjectStore(database.db) });
    const { row, token } = await tokens.create({ project: values.project ?? null, name: values.name });
    process.stderr.write(`created ${row.project === null ? 'an admin token' : `a token of project "${row.project}"`} (id ${row.id}); it is shown only now:\n`);
    process.stdout.write(`${token}\n`);
    return 0;
  } finally {
    await database.close();
  }
}

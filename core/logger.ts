// pino, with credentials redacted wherever they might travel in a log object.
import { pino, type Logger } from 'pino';

export type { Logger };

export const redactPaths = [
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'token',
  '*.token',
  'secretAccessKey',
  '*.secretAccessKey',
  'S3_SECRET_ACCESS_KEY',
  'REGISTRY_PASSWORD',
  'KILN_ADMIN_TOKEN',
  'KILN_TOKEN',
  'secret',
  '*.secret',
  'authconfig',
  '*.authconfig',
];

export function createLogger(opts: { level: string; name?: string }): Logger {
  // Pretty output only for a person at a terminal; machines get JSON lines.
  const pretty = process.stdout.isTTY;
  return pino({
    name: opts.name ?? 'kiln',
    level: opts.level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss' } } } : {}),
  });
}

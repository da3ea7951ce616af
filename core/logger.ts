// pino, with credentials redacted wherever they might travel in a log object; readable coloured lines for a person at
// a terminal, JSON lines for machines (LOG_FORMAT).
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

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

export type LogFormat = 'auto' | 'pretty' | 'json';

/** Whether lines for people are wanted: asked for, or `auto` on a terminal. */
export const wantsPretty = (format: LogFormat, out: { isTTY?: boolean }) => format === 'pretty' || (format === 'auto' && out.isTTY === true);

/**
 * A logger writing to `out` (stdout by default). Pretty lines are formatted in this thread (no transport worker), so
 * the last lines before an exit are never lost; colour only on a terminal that has not asked for none (NO_COLOR).
 */
export function createLogger(opts: { level: string; name?: string; format?: LogFormat; out?: NodeJS.WritableStream & { isTTY?: boolean } }): Logger {
  const out = opts.out ?? process.stdout;
  const options = { name: opts.name ?? 'kiln', level: opts.level, redact: { paths: redactPaths, censor: '[redacted]' } };
  if (!wantsPretty(opts.format ?? 'auto', out)) return pino(options, out === process.stdout ? pino.destination(1) : (out as Writable));
  return pino(
    options,
    pretty({
      destination: out,
      colorize: out.isTTY === true && !process.env.NO_COLOR,
      translateTime: 'SYS:HH:MM:ss',
      ignore: 'pid,hostname',
      sync: true,
    }),
  );
}

// Shared start/stop for kiln's start files: parse config, open infrastructure, start parts, and on SIGTERM/SIGINT
// close them in order (stop taking work → finish active work → Redis → database).
import { loadConfig, ConfigError, type Config } from './config.ts';
import { openInfrastructure, type Infrastructure } from './infrastructure.ts';
import { createLogger, type Logger } from './logger.ts';

export interface Part {
  close(): Promise<void>;
}

/** Loads a config, or prints every problem and exits 2 (bad configuration) before anything starts. */
export function configOrExit<T>(name: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`kiln ${name}: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}

export async function runProcess(
  name: string,
  start: (infra: Infrastructure) => Promise<Part[]>,
  opts: { env?: Record<string, string | undefined>; onStopped?: () => Promise<void> } = {},
): Promise<void> {
  const config: Config = configOrExit(name, () => loadConfig(opts.env ?? process.env));
  const log: Logger = createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, name: `kiln-${name}` });
  let infra: Infrastructure;
  let parts: Part[];
  try {
    infra = await openInfrastructure(config, log);
    parts = await start(infra);
  } catch (err) {
    log.fatal({ err }, 'could not start');
    await opts.onStopped?.();
    process.exit(1);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    for (const part of parts) {
      await part.close().catch((err: unknown) => log.error({ err }, 'error while closing'));
    }
    await infra.close().catch((err: unknown) => log.error({ err }, 'error while closing infrastructure'));
    await opts.onStopped?.();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

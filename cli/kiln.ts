// The `kiln` command: upload a binary, build an image and wait for it (exit 0 on success, 1 on failure or cancel),
// read a build's status and log — from a terminal or a CI job. Configured by KILN_URL and KILN_TOKEN.
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadCliConfig } from '../core/config.ts';
import { createAdminToken } from './admin-command.ts';
import { followBuild } from './build-follow.ts';
import { ApiError, createKilnApi, UsageError, type KilnApi } from './kiln-api.ts';
import { progressWords } from './progress-text.ts';
import { estimateText } from '../core/duration-text.ts';

const usage = `usage:
  kiln upload FILE                      upload a binary; prints its upload id
  kiln build --image REPO:TAG (--binary FILE | --upload ID) [options]
      --component NAME[@VERSION]        repeat for each component, e.g. --component jdk@17 --component openssl
      --root ROOT                       catalog root (default debian-bookworm)
      --binary-path PATH                where the binary goes in the image (default /usr/local/bin/<file name>)
      --entrypoint ARG                  repeat for each argument, or one JSON array (default: the binary);
                                        an argument starting with "-" is written --entrypoint=-jar
      --cmd ARG                         default arguments, like --entrypoint
      --env KEY=VALUE                   repeat for each variable
      --idempotency-key KEY             a retried command with the same key starts no second build
      --priority interactive|ci         queue class (default ci when the CI variable is set, else interactive)
      --timeout SECONDS                 stop the build after this long (the server's default and max apply)
      --source URL                      where the source lives (the image's org.opencontainers.image.source label)
      --revision REV                    the commit it was built from (org.opencontainers.image.revision)
      --install                         install the components even where kiln could compose them from
                                        prebuilt layers (to compare; the image's dev.kiln.route label says install)
      --wait                            wait for the build, print its log (progress on stderr: a bar on a
                                        terminal, a line per step otherwise), exit 0 if it succeeded, else 1
  kiln status ID                        the build as JSON
  kiln logs ID                          the build's log
  kiln cancel ID                        cancel a queued or running build
  kiln admin create-token [--name N] [--project P]
                                        on the server, with its environment (DATABASE_URL or KILN_DATA_DIR): make an
                                        admin token (or a project's token) directly in the database; prints it once
environment: KILN_URL (default http://localhost:8080), KILN_TOKEN (an API token)
exit codes: 0 done, 1 the build failed or was canceled, 2 bad usage or configuration, 3 kiln refused or did not answer`;

/** `--entrypoint a --entrypoint b` or `--entrypoint '["a","b"]'`. */
function argv(values: string[] | undefined, option: string): string[] | undefined {
  if (!values || values.length === 0) return undefined;
  if (values.length === 1 && values[0]!.trim().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(values[0]!);
    } catch {
      throw new UsageError(`--${option}: not a JSON array: ${values[0]}`);
    }
    if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new UsageError(`--${option}: a JSON array of strings`);
    return parsed;
  }
  return values;
}

function envPairs(values: string[] | undefined): Record<string, string> | undefined {
  if (!values) return undefined;
  return Object.fromEntries(
    values.map((pair) => {
      const i = pair.indexOf('=');
      if (i <= 0) throw new UsageError(`--env ${pair}: expected KEY=VALUE`);
      return [pair.slice(0, i), pair.slice(i + 1)];
    }),
  );
}

async function build(api: KilnApi, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      image: { type: 'string' },
      binary: { type: 'string' },
      upload: { type: 'string' },
      component: { type: 'string', multiple: true },
      root: { type: 'string' },
      'binary-path': { type: 'string' },
      entrypoint: { type: 'string', multiple: true },
      cmd: { type: 'string', multiple: true },
      env: { type: 'string', multiple: true },
      'idempotency-key': { type: 'string' },
      priority: { type: 'string' },
      timeout: { type: 'string' },
      source: { type: 'string' },
      revision: { type: 'string' },
      install: { type: 'boolean', default: false },
      wait: { type: 'boolean', default: false },
    },
  });
  if (!values.image) throw new UsageError('--image REPO:TAG is required');
  if (!values.binary === !values.upload) throw new UsageError('give exactly one of --binary FILE or --upload ID');
  const binaryPath = values['binary-path'] ?? `/usr/local/bin/${basename(values.binary ?? 'app')}`;

  let uploadId = values.upload;
  if (values.binary) {
    const up = await api.upload(values.binary);
    process.stderr.write(`uploaded ${values.binary}: ${up.id} (sha256 ${up.sha256}, ${up.size} bytes)\n`);
    uploadId = up.id;
  }
  const cmd = argv(values.cmd, 'cmd');
  const env = envPairs(values.env);
  // CI systems (GitHub Actions, GitLab, Jenkins plugins…) set CI; their builds queue behind people's.
  const priority = values.priority ?? (process.env.CI && process.env.CI !== 'false' ? 'ci' : 'interactive');
  if (priority !== 'interactive' && priority !== 'ci') throw new UsageError('--priority is interactive or ci');
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeout !== undefined && !Number.isInteger(timeout)) throw new UsageError('--timeout takes whole seconds');
  const created = await api.createBuild(
    {
      ...(values.root ? { root: values.root } : {}),
      components: values.component ?? [],
      uploadId,
      binaryPath,
      entrypoint: argv(values.entrypoint, 'entrypoint') ?? [binaryPath],
      ...(cmd ? { cmd } : {}),
      ...(env ? { env } : {}),
      image: values.image,
      priority,
      ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}),
      ...(values.source ? { source: values.source } : {}),
      ...(values.revision ? { revision: values.revision } : {}),
      ...(values.install ? { route: 'install' } : {}),
    },
    values['idempotency-key'],
  );
  const route = created.route ? `, ${created.route === 'composed' ? 'composed from prebuilt layers' : created.route === 'template' ? 'FROM a template' : 'installed'}` : '';
  const estimate = created.estimate ? `: ${estimateText(created.estimate)}${route}` : '';
  process.stderr.write(`build ${created.id} ${progressWords({ id: created.id, status: created.status, queuePosition: created.queuePosition ?? null })}${estimate}\n`);
  if (!values.wait) {
    process.stdout.write(`${created.id}\n`);
    return 0;
  }
  return followBuild(api, created.id);
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    (command ? process.stdout : process.stderr).write(`${usage}\n`);
    return command ? 0 : 2;
  }
  if (command === 'admin') return createAdminToken(rest);
  const api = createKilnApi(loadCliConfig(process.env));
  const one = (what: string) => {
    const { positionals } = parseArgs({ args: rest, allowPositionals: true });
    if (positionals.length !== 1) throw new UsageError(`kiln ${command} ${what}`);
    return positionals[0]!;
  };
  switch (command) {
    case 'upload': {
      const up = await api.upload(one('FILE'));
      process.stderr.write(`sha256 ${up.sha256}, ${up.size} bytes\n`);
      process.stdout.write(`${up.id}\n`);
      return 0;
    }
    case 'build':
      return build(api, rest);
    case 'status':
      process.stdout.write(`${JSON.stringify(await api.getBuild(one('ID')), null, 2)}\n`);
      return 0;
    case 'logs':
      process.stdout.write(await api.log(one('ID')));
      return 0;
    case 'cancel': {
      const b = await api.cancel(one('ID'));
      process.stderr.write(`build ${b.id as string}: ${b.status === 'canceled' ? 'canceled' : 'stopping (it ends canceled in a few seconds)'}
`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof ApiError) {
    process.stderr.write(`kiln: ${err.message}\n`);
    process.exitCode = 3;
  } else if (err instanceof ConfigError || err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`kiln: ${(err as Error).message}\n\n${usage}\n`);
    process.exitCode = 2;
  } else if ((err as { code?: string }).code === 'ENOENT') {
    process.stderr.write(`kiln: ${(err as Error).message}\n`);
    process.exitCode = 2;
  } else {
    throw err;
  }
}

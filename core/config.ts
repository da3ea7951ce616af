// The one place that reads the environment: a zod schema parsed once at start, frozen, failing with every problem.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const port = z.coerce.number().int().min(1).max(65535);
const hostPort = /^[A-Za-z0-9.-]+(:\d+)?$/;
/** A comma-separated list of host[:port], e.g. `127.0.0.1:5000,registry.lan:5000`. */
const hostList = z
  .string()
  .transform((s) => s.split(',').map((h) => h.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(hostPort, 'host[:port] entries, comma-separated')));

/** The PEM text of REGISTRY_CA_FILE, or why it cannot be used. */
function readCaFile(file: string): { pem: string } | { problem: string } {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    return { problem: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  return /-----BEGIN CERTIFICATE-----/.test(pem) ? { pem } : { problem: `${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` };
}
const bytes = z.coerce.number().int().positive();

/** Every setting, field by field; `configSchema` adds the rules across fields. */
const configFields = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** `auto`: readable, coloured lines when stdout is a terminal, JSON lines otherwise; `pretty` or `json` to choose. */
    LOG_FORMAT: z.enum(['auto', 'pretty', 'json']).default('auto'),
    KILN_DATA_DIR: z.string().min(1).default('.kiln-data'),
    KILN_HOST: z.string().default('127.0.0.1'),
    KILN_PORT: port.default(8080),
    /**
     * A builder's or an analyzer's own /healthz, /readyz and /metrics (on KILN_HOST); absent: none. For processes
     * that run alone (compose.yaml sets it); the api serves the same routes on KILN_PORT.
     */
    KILN_OPS_PORT: z.preprocess((v) => (v === '' ? undefined : v), port.optional()),
    /** Where the catalog (roots and components) lives. */
    KILN_CATALOG_DIR: z.string().min(1).default('base-images'),
    /** Absent: embedded PGlite in the data dir. */
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
    /** Prefix for BullMQ keys, so several kiln installations (or tests) can share one Redis. */
    KILN_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]+$/).default('kiln'),
    /** Empty: the local socket (/var/run/docker.sock). Else e.g. tcp://host:2375 or unix:///path. */
    DOCKER_HOST: z.string().optional(),
    S3_ENDPOINT: z.url().optional(),
    S3_REGION: z.string().min(1).default('us-east-1'),
    S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'),
    S3_ACCESS_KEY_ID: z.string().min(1),
    S3_SECRET_ACCESS_KEY: z.string().min(1),
    /** Path-style addressing: needed by s3rver and MinIO, harmless elsewhere. */
    S3_FORCE_PATH_STYLE: z.stringbool().default(true),
    /** Where images go (host[:port]); no default: a production registry has a name, the local stack sets its own. */
    REGISTRY_HOST: z.string({ error: 'required: the registry images are pushed to, host[:port]' }).regex(hostPort, 'host[:port]'),
    /**
     * Harbor robot accounts look like `robot$project+name`: any characters but a colon, which Basic auth cannot carry
     * in a user name (RFC 7617: the first colon ends it). Empty counts as unset.
     */
    REGISTRY_USERNAME: z.preprocess(
      (v) => (v === '' ? undefined : v),
      z
        .string()
        .regex(/^[^:]*$/, 'must not contain ":" (Basic auth ends the user name at the first colon, so the registry would see another user)')
        .optional(),
    ),
    REGISTRY_PASSWORD: z.preprocess((v) => (v === '' ? undefined : v), z.string().optional()),
    /**
     * Hosts spoken to over plain HTTP: the registry (if listed) and a token service on a listed host. Every other host
     * is HTTPS. The local stack lists its own registry (127.0.0.1:5000).
     */
    REGISTRY_PLAIN_HTTP_HOSTS: hostList.default([]),
    /** A PEM bundle of the CA(s) that sign the registry's certificate, trusted beside the system's. */
    // Empty counts as unset (compose files pass `${REGISTRY_CA_FILE:-}`).
    REGISTRY_CA_FILE: z.preprocess(
      (v) => (v === '' ? undefined : v),
      z
        .string()
        .superRefine((file, ctx) => {
          const ca = readCaFile(file);
          if ('problem' in ca) ctx.addIssue({ code: 'custom', message: ca.problem });
        })
        .optional(),
    ),
    /** Replaced by REGISTRY_PLAIN_HTTP_HOSTS: refused with a message that says so, rather than silently ignored. */
    REGISTRY_INSECURE: z
      .undefined({ error: 'is no longer read: kiln speaks HTTPS to every registry host except those listed in REGISTRY_PLAIN_HTTP_HOSTS (e.g. REGISTRY_PLAIN_HTTP_HOSTS=127.0.0.1:5000)' })
      .optional(),
    /** Every image kiln pushes lands under REGISTRY_HOST/REGISTRY_PREFIX/. */
    REGISTRY_PREFIX: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/).default('kiln'),
    /** Root images are named `<prefix>:<root name>`, e.g. kiln-root:debian-bookworm. */
    KILN_ROOT_IMAGE_PREFIX: z.string().regex(/^[a-z0-9][a-z0-9._/:-]*$/).default('kiln-root'),
    /**
     * Where a builder pulls the catalog's Docker Hub roots (`pull: debian:bookworm-slim`) from instead of Docker Hub:
     * a pull-through mirror, e.g. a Harbor proxy-cache project (`harbor.example.com/dockerhub`). Empty counts as unset.
     */
    KILN_ROOT_PULL_MIRROR: z.preprocess(
      (v) => (v === '' ? undefined : v),
      z.string().regex(/^[A-Za-z0-9.-]+(:\d+)?(\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/, 'host[:port][/path]').optional(),
    ),
    KILN_UPLOAD_LIMIT_BYTES: bytes.default(2 * 1024 ** 3),
    KILN_BUILD_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
    KILN_BUILD_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
    /** First retry delay after a transient failure; each further retry waits twice as long. */
    KILN_BUILD_BACKOFF_SECONDS: z.coerce.number().min(0).max(3600).default(2),
    /**
     * A call to the registry or S3 that fails because the service is away (a restart, a deploy) is retried within the
     * attempt, with backoff, for up to this long (and never past the build's timeout) before the attempt fails.
     */
    KILN_OUTAGE_RETRY_SECONDS: z.coerce.number().min(0).max(24 * 3600).default(600),
    /** A build running longer is stopped and fails; a build may ask for less or more, up to the max. */
    KILN_BUILD_TIMEOUT_SECONDS: z.coerce.number().int().min(10).default(3600),
    KILN_BUILD_TIMEOUT_MAX_SECONDS: z.coerce.number().int().min(10).default(4 * 3600),
    /**
     * Composition: builds whose components all have prebuilt layers are assembled in the registry instead of
     * installed. false: every build installs (FROM a template or the root), as before composition.
     */
    KILN_COMPOSITION: z.stringbool().default(true),
    /** Bytes (uncompressed) the prebuilt component layers may take in all; absent: every catalog version is prebuilt. */
    KILN_LAYER_BUDGET_BYTES: bytes.optional(),
    /** Hot combinations (from the build history) each analysis verifies ahead of their next build. */
    KILN_PREVERIFY_MAX: z.coerce.number().int().min(0).max(1000).default(20),
    /** A template build running longer is stopped and fails (templates hold the slowest installs: GCC, CUDA). */
    KILN_TEMPLATE_TIMEOUT_SECONDS: z.coerce.number().int().min(10).default(4 * 3600),
    /**
     * How long a builder's claim on a build lasts without renewal. A builder that dies (SIGKILL, host lost) stops
     * renewing; after this long another builder takes the build over.
     */
    KILN_BUILD_LOCK_SECONDS: z.coerce.number().int().min(2).max(600).default(30),
    /** On SIGTERM a builder stops taking builds and lets active ones run this long before requeueing them. */
    KILN_SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(24 * 3600).default(60),
    /** Analyzer: how many templates may exist, and (optionally) how many bytes they may take in all. */
    KILN_TEMPLATE_MAX: z.coerce.number().int().min(0).max(1000).default(10),
    KILN_TEMPLATE_MAX_BYTES: bytes.optional(),
    /** A template must serve at least this many recent (recency-weighted) builds... */
    KILN_TEMPLATE_MIN_SUPPORT: z.coerce.number().min(0).default(2),
    /** ...and spare each of them at least this many install seconds. */
    KILN_TEMPLATE_MIN_SECONDS: z.coerce.number().min(0).default(120),
    /** What keeping a GiB of template costs per analysis horizon, in install-seconds (storage, rebuilds, disk). */
    KILN_TEMPLATE_STORAGE_SECONDS_PER_GIB: z.coerce.number().min(0).default(60),
    /**
     * How long an analyzer's claim on an analysis lasts without renewal (renewed every half of it while the analysis
     * runs in its worker thread); an analyzer that dies has its analysis taken over by another after this long.
     */
    KILN_ANALYZER_LOCK_SECONDS: z.coerce.number().int().min(2).max(600).default(30),
    /** How often the analyzer runs on its own (it also runs on POST /v1/analyzer/run); 0 = only on demand. */
    KILN_ANALYZER_INTERVAL_SECONDS: z.coerce.number().int().refine((n) => n === 0 || n >= 10, '0 (off) or at least 10').default(3600),
    /** How often the analyzer applies every project's image retention rule; 0 = never on its own. */
    KILN_RETENTION_INTERVAL_SECONDS: z.coerce.number().int().refine((n) => n === 0 || n >= 10, '0 (off) or at least 10').default(3600),
    /** How far back the analyzer reads history. */
    KILN_ANALYZER_WINDOW_DAYS: z.coerce.number().min(1).default(28),
    /** A retired or stale template's image stays in the registry this long (builds may still be pulling it). */
    KILN_TEMPLATE_GRACE_SECONDS: z.coerce.number().int().min(0).default(86400),
    /**
     * An admin token accepted in addition to those in the database (bootstrap: create projects and tokens with it).
     * A secret: no default. Revoke it by removing it from the environment and restarting.
     */
    KILN_ADMIN_TOKEN: z.string().min(32, 'at least 32 characters (e.g. `openssl rand -hex 32`)').max(512).optional(),
    /** Base URL clients reach the api at, for the webhook URLs kiln hands out; absent: taken from the request. */
    KILN_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** Builds one token may create per minute (POST /v1/builds); more get 429. */
    KILN_BUILD_RATE_LIMIT: z.coerce.number().int().min(1).max(100_000).default(60),
    /**
     * A connection on which nothing arrives (or leaves) for this long is closed: a client that stalls mid-body
     * holds nothing for longer. Long-polls and live logs are exempt while they wait on purpose.
     */
    KILN_HTTP_IDLE_TIMEOUT_SECONDS: z.coerce.number().min(1).max(3600).default(30),
    /** All request headers must arrive within this long (slowloris). */
    KILN_HTTP_HEADERS_TIMEOUT_SECONDS: z.coerce.number().min(1).max(3600).default(15),
    /** A whole request, body included, must arrive within this long: a 2 GiB upload then needs at least 0.6 MB/s. */
    KILN_HTTP_REQUEST_TIMEOUT_SECONDS: z.coerce.number().min(1).max(86_400).default(3600),
    /** An idle keep-alive connection is closed after this long (longer than common load balancers' 60 s). */
    KILN_HTTP_KEEPALIVE_TIMEOUT_SECONDS: z.coerce.number().min(1).max(3600).default(72),
    /**
     * After refusing a request whose body is still arriving (413, 401, 404 on a delivery URL), kiln keeps reading and
     * dropping it this long before closing, so the client can read the refusal (RFC 9112 §9.6) instead of a reset.
     */
    KILN_HTTP_LINGER_SECONDS: z.coerce.number().min(0).max(60).default(2),
  });

/**
 * The whole environment: fields plus the rules across them. Each rule runs when the fields it reads are valid, so its
 * problem is listed together with every field problem.
 */
export const configSchema = configFields
  .refine((c) => c.KILN_BUILD_TIMEOUT_SECONDS <= c.KILN_BUILD_TIMEOUT_MAX_SECONDS, {
    path: ['KILN_BUILD_TIMEOUT_SECONDS'],
    message: 'must not exceed KILN_BUILD_TIMEOUT_MAX_SECONDS',
    when: (p) => configFields.pick({ KILN_BUILD_TIMEOUT_SECONDS: true, KILN_BUILD_TIMEOUT_MAX_SECONDS: true }).safeParse(p.value).success,
  })
  .refine((c) => c.KILN_HTTP_HEADERS_TIMEOUT_SECONDS <= c.KILN_HTTP_REQUEST_TIMEOUT_SECONDS, {
    path: ['KILN_HTTP_HEADERS_TIMEOUT_SECONDS'],
    message: 'must not exceed KILN_HTTP_REQUEST_TIMEOUT_SECONDS (the headers are part of the request)',
    when: (p) => configFields.pick({ KILN_HTTP_HEADERS_TIMEOUT_SECONDS: true, KILN_HTTP_REQUEST_TIMEOUT_SECONDS: true }).safeParse(p.value).success,
  })
  .refine((c) => (c.REGISTRY_USERNAME === undefined) === (c.REGISTRY_PASSWORD === undefined), {
    path: ['REGISTRY_PASSWORD'],
    message: 'REGISTRY_USERNAME and REGISTRY_PASSWORD go together',
    when: (p) => configFields.pick({ REGISTRY_USERNAME: true, REGISTRY_PASSWORD: true }).safeParse(p.value).success,
  })
  .refine((c) => !(c.REGISTRY_CA_FILE && c.REGISTRY_PLAIN_HTTP_HOSTS.includes(c.REGISTRY_HOST)), {
    path: ['REGISTRY_CA_FILE'],
    message: 'is set, but REGISTRY_HOST is listed in REGISTRY_PLAIN_HTTP_HOSTS (plain HTTP has no certificate to check): drop one of them',
    // (The host list is already transformed here, so its fields' own issues say whether the rule can run.)
    when: (p) => !p.issues.some((i) => ['REGISTRY_HOST', 'REGISTRY_CA_FILE', 'REGISTRY_PLAIN_HTTP_HOSTS'].includes(String(i.path?.[0]))),
  });

export type Config = Readonly<z.infer<typeof configSchema>> & {
  readonly dataDir: string;
  readonly catalogDir: string;
  /** The PEM text of REGISTRY_CA_FILE, read once at start. */
  readonly registryCa?: string;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses `env` with `schema`, or throws a ConfigError listing every problem. */
function parseEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  return parsed.data;
}

/** Parses an environment (process.env at start; tests pass their own) into a frozen config. */
export function loadConfig(env: Record<string, string | undefined>, cwd = process.cwd()): Config {
  const data = parseEnv(configSchema, env);
  const ca = data.REGISTRY_CA_FILE ? readCaFile(data.REGISTRY_CA_FILE) : undefined;
  return Object.freeze({
    ...data,
    dataDir: path.resolve(cwd, data.KILN_DATA_DIR),
    catalogDir: path.resolve(cwd, data.KILN_CATALOG_DIR),
    ...(ca && 'pem' in ca ? { registryCa: ca.pem } : {}),
  });
}

/** The part of the environment a database-only command (`kiln admin create-token`) needs. */
export const databaseConfigSchema = configFields.pick({ KILN_DATA_DIR: true, DATABASE_URL: true, LOG_LEVEL: true, LOG_FORMAT: true });
export type DatabaseConfig = Readonly<z.infer<typeof databaseConfigSchema>> & { readonly dataDir: string };

export function loadDatabaseConfig(env: Record<string, string | undefined>, cwd = process.cwd()): DatabaseConfig {
  const data = parseEnv(databaseConfigSchema, env);
  return Object.freeze({ ...data, dataDir: path.resolve(cwd, data.KILN_DATA_DIR) });
}

/**
 * What the local stack launcher (`npm start`, `npm test`, `npm run services`) reads before kiln's own config can be
 * complete: the services it starts fill in the rest (S3 keys, addresses).
 */
export const stackConfigSchema = configFields.pick({
  KILN_DATA_DIR: true,
  LOG_LEVEL: true,
  LOG_FORMAT: true,
  KILN_CATALOG_DIR: true,
  KILN_ROOT_IMAGE_PREFIX: true,
  KILN_ADMIN_TOKEN: true,
});
export type StackConfig = Readonly<z.infer<typeof stackConfigSchema>> & { readonly dataDir: string; readonly catalogDir: string };

export function loadStackConfig(env: Record<string, string | undefined>, cwd = process.cwd()): StackConfig {
  const data = parseEnv(stackConfigSchema, env);
  return Object.freeze({ ...data, dataDir: path.resolve(cwd, data.KILN_DATA_DIR), catalogDir: path.resolve(cwd, data.KILN_CATALOG_DIR) });
}

/** What creating S3 buckets needs (compose.yaml's one-shot `s3-buckets` service, stack/ensure-buckets.ts). */
export const s3ConfigSchema = configFields.pick({ S3_ENDPOINT: true, S3_REGION: true, S3_ACCESS_KEY_ID: true, S3_SECRET_ACCESS_KEY: true, S3_FORCE_PATH_STYLE: true });
export type S3Config = Readonly<z.infer<typeof s3ConfigSchema>>;

export function loadS3Config(env: Record<string, string | undefined>): S3Config {
  return Object.freeze(parseEnv(s3ConfigSchema, env));
}

/** What the `kiln` CLI (a client of the api) reads from its environment. The token is a secret: no default. */
export const cliConfigSchema = z.object({
  KILN_URL: z.url({ protocol: /^https?$/ }).default('http://localhost:8080'),
  KILN_TOKEN: z.string().min(1, 'set KILN_TOKEN to an API token (kiln prints one on `npm start`)'),
});
export type CliConfig = Readonly<z.infer<typeof cliConfigSchema>>;

export function loadCliConfig(env: Record<string, string | undefined>): CliConfig {
  const data = parseEnv(cliConfigSchema, env);
  return Object.freeze({ ...data, KILN_URL: data.KILN_URL.replace(/\/+$/, '') });
}

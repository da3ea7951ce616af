// Response and request schemas shared by routes (and so by the OpenAPI document).
import { z } from 'zod';
import { buildPriorities, requestedRoutes } from '../core/build-types.ts';
import { stepKinds } from '../core/db/schema/builds.ts';
import { storableTextRule } from '../core/db/storable-values.ts';

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    requestId: z.string(),
    problems: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

export const idParams = z.object({ id: z.string().max(64) });

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * Whether a path id can name a row at all. Ids are uuid columns, which refuse any other text with an error: a
 * service asks this first, so a malformed id is a 404 like any unknown one, never a database error.
 */
export const isUuid = (id: string): boolean => uuidPattern.test(id);

const U64_MAX = 2n ** 64n - 1n;
/** A Redis stream id Redis itself accepts (`<ms>-<seq>`, each an unsigned 64-bit number), e.g. a Last-Event-ID. */
export function isStreamId(value: string): boolean {
  const m = /^(\d{1,20})-(\d{1,20})$/.exec(value);
  return m !== null && BigInt(m[1]!) <= U64_MAX && BigInt(m[2]!) <= U64_MAX;
}

/**
 * A request body that is not JSON (a file, a signed webhook payload): handed to the route as the parser made it
 * (a stream or a Buffer), so it is documented as binary and not validated here.
 */
export const rawBody = (description: string) => z.custom<unknown>().meta({ type: 'string', format: 'binary', description });

export const uploadSchema = z
  .object({
    id: z.uuid(),
    sha256: z.string(),
    size: z.number().int(),
    filename: z.string().nullable(),
    kind: z.enum(['file', 'tar']).describe('file: copied to binaryPath; tar: an archive unpacked into the directory binaryPath'),
    entries: z.number().int().nullable().describe('tar: how many entries it holds'),
    unpackedSize: z.number().int().nullable().describe('tar: bytes of tar after gunzip'),
    createdAt: z.string(),
  })
  .meta({ id: 'Upload' });

const plannedComponent = z.object({ name: z.string(), version: z.string(), key: z.string(), recipeHash: z.string() });

export const buildPlanSchema = z.object({
  root: z.object({ name: z.string(), image: z.string() }),
  base: z.union([
    z.object({ kind: z.literal('root'), image: z.string() }),
    z.object({
      kind: z.literal('template'),
      image: z.string(),
      digest: z.string(),
      templateId: z.string(),
      covers: z.array(z.string()),
      secondsSaved: z.number(),
    }),
    z
      .object({
        kind: z.literal('composed'),
        image: z.string().describe('the verified combination (root + component layers + merge layer) it was assembled from'),
        digest: z.string(),
        compositionKey: z.string(),
        layers: z.array(z.object({ key: z.string(), digest: z.string() })).describe("each component's prebuilt layer, in install order"),
        merge: z.string().nullable().describe('the merge layer (reconciled dpkg, apt, debconf, alternatives, linker cache)'),
        verifiedNow: z.boolean().describe("true when this build paid for the combination's one verification"),
        secondsSaved: z.number().describe('install seconds no step spent'),
      })
      .describe('assembled in the registry from prebuilt layers: no engine build, no install step'),
  ]),
  components: z.array(plannedComponent),
  binary: z.object({
    uploadId: z.string(),
    sha256: z.string(),
    size: z.number(),
    s3Key: z.string(),
    path: z.string(),
    kind: z.literal('tar').optional().describe('absent: one file at path; tar: an archive unpacked into the directory path'),
    entries: z.number().optional(),
    unpackedSize: z.number().optional(),
  }),
  entrypoint: z.array(z.string()),
  cmd: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()),
  imageRef: z.string(),
  route: z.literal('install').optional().describe('present when the build asked to install (the spec\'s route); `base.kind` says what it started FROM'),
});

/** An absolute http(s) URL, as sent (zod's url() would strip tabs and newlines before anything saw them). */
const isHttpUrl = (v: string): boolean => {
  try {
    return /^https?:$/.test(new URL(v).protocol) && /^https?:\/\//i.test(v);
  } catch {
    return false;
  }
};

export const buildSpecSchema = z
  .strictObject({
    root: z.string().max(64).default('debian-bookworm').describe('catalog root, e.g. debian-bookworm'),
    components: z.array(z.string().max(100)).max(32).default([]).describe('name or name@version, e.g. ["jdk@17", "openssl"]'),
    uploadId: z.string().max(64).describe('id returned by POST /v1/uploads'),
    binaryPath: z.string().max(300).describe('absolute path of the binary in the image, e.g. /opt/app/app.jar (for a tar upload: the directory it is unpacked into)'),
    entrypoint: z.array(z.string().max(4096)).max(64).describe('exec form, e.g. ["java", "-jar", "/opt/app/app.jar"]'),
    cmd: z.array(z.string().max(4096)).max(64).optional(),
    env: z.record(z.string().max(128), z.string().max(8192)).optional(),
    image: z.string().max(300).describe('repository:tag, pushed under the registry prefix'),
    priority: z
      .enum(buildPriorities)
      .optional()
      .describe('interactive (default for REST and the form) starts before every queued ci build; webhooks and the CLI under CI send ci'),
    timeoutSeconds: z.number().int().min(10).optional().describe('stop the build after this many seconds (default and max: server config)'),
    source: z
      .string()
      .max(500)
      .refine(...storableTextRule)
      .refine(isHttpUrl, { error: 'an http(s) URL' })
      .meta({ format: 'uri' })
      .optional()
      .describe('where the source lives, e.g. https://git.example.com/team/app: the org.opencontainers.image.source label'),
    revision: z
      .string()
      .regex(/^[\x21-\x7e]{1,100}$/, '1–100 printable ASCII characters without spaces, e.g. a commit id')
      .optional()
      .describe('the source revision (a commit id): the org.opencontainers.image.revision label'),
    route: z
      .enum(requestedRoutes)
      .optional()
      .describe(
        'auto (default): composed from prebuilt layers when the combination is verified, else FROM a template or the root. ' +
          'install: install the components even where they could be composed, never waiting for a verification (FROM a ' +
          'ready template when one fits: it is an installed image too). The image\'s dev.kiln.route label says the route that ran',
      ),
  })
  .meta({ id: 'BuildSpec' });

const buildStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']);
const routeSchema = z.enum(['composed', 'template', 'install']).describe('composed from prebuilt layers, FROM a template, or installed');
const basisSchema = z.enum(['history', 'catalog', 'mixed']).describe("history: measured on this installation; catalog: the catalog's install estimates (nothing measured yet)");

export const submitEstimateSchema = z
  .object({
    route: routeSchema,
    seconds: z.number().describe('the estimate: seconds from submission to the pushed image'),
    low: z.number().describe('the range the real time should fall in (about 8 builds in 10): from'),
    high: z.number().describe('…to'),
    basis: basisSchema,
    queueSeconds: z.number().describe('of `seconds`, the wait in the queue'),
    runSeconds: z.number().describe('of `seconds`, the run (from a builder taking it to the pushed image)'),
  })
  .meta({ id: 'BuildEstimate' });

const stepView = z.object({
  kind: z.enum(stepKinds),
  component: z.string(),
  status: z.enum(['done', 'running', 'pending', 'skipped']),
  seconds: z.number().nullable().describe('taken (done) or so far (running)'),
  estimatedSeconds: z.number(),
});

export const progressSchema = z
  .object({
    elapsedSeconds: z.number().describe('running: since it started; queued: since it was submitted; ended: how long it ran'),
    remainingSeconds: z.number().nullable(),
    remainingLow: z.number().nullable(),
    remainingHigh: z.number().nullable(),
    fraction: z.number().describe('share of the run behind it, by steps and time (0–1)'),
    queueSeconds: z.number().nullable().describe('queued: the estimated wait before a builder takes it'),
    currentStep: z
      .object({ kind: z.enum(stepKinds), component: z.string(), index: z.number().int(), total: z.number().int(), elapsedSeconds: z.number() })
      .nullable(),
    steps: z.array(stepView),
    submitted: submitEstimateSchema.nullable().describe('what POST /v1/builds answered'),
  })
  .meta({ id: 'BuildProgress' });

export const buildSummarySchema = z
  .object({
    id: z.uuid(),
    status: buildStatus,
    imageRef: z.string().describe('REGISTRY_HOST/REGISTRY_PREFIX/<project>/repository:tag'),
    digest: z.string().nullable(),
    error: z.string().nullable(),
    queuedAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: 'BuildSummary' });

export const buildSchema = buildSummarySchema
  .extend({
    spec: z.unknown(),
    plan: buildPlanSchema,
    attempts: z.number().int(),
    queuePosition: z.number().int().nullable().describe('1 = next to start; null unless the build is waiting'),
    steps: z.array(
      z.object({
        component: z.string().describe('a component key, `binary` (the user\'s part), `verify` (a combination proven), `pull` or `push`'),
        recipeHash: z.string().nullable(),
        seconds: z.number(),
        cached: z.boolean(),
        kind: z
          .enum(stepKinds)
          .nullable()
          .describe('install (ran), cache (layer cache), layer (prebuilt layer), verify, assemble, pull (the base fetched first), push'),
        bytes: z.number().nullable().describe("a step's layer (install, cache, assemble); bytes uploaded (push) or pulled (pull)"),
      }),
    ),
    progress: progressSchema.nullable().describe('where it is and what it has left (null when kiln cannot say)'),
  })
  .meta({ id: 'Build' });

/** `?limit=` of list routes. */
export const listLimit = z.coerce.number().int().min(1).max(200).default(50).describe('at most this many items (1–200, default 50)');

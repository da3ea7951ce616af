// Response and request schemas shared by routes (and so by the OpenAPI document).
import { z } from 'zod';
import { buildPriorities } from '../core/build-types.ts';

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
});

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
      .url({ protocol: /^https?$/, error: 'an http(s) URL' })
      .max(500)
      .optional()
      .describe('where the source lives, e.g. https://git.example.com/team/app: the org.opencontainers.image.source label'),
    revision: z
      .string()
      .regex(/^[\x21-\x7e]{1,100}$/, '1–100 printable ASCII characters without spaces, e.g. a commit id')
      .optional()
      .describe('the source revision (a commit id): the org.opencontainers.image.revision label'),
  })
  .meta({ id: 'BuildSpec' });

const buildStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']);

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
    steps: z.array(z.object({ component: z.string(), recipeHash: z.string().nullable(), seconds: z.number(), cached: z.boolean() })),
  })
  .meta({ id: 'Build' });

/** `?limit=` of list routes. */
export const listLimit = z.coerce.number().int().min(1).max(200).default(50).describe('at most this many items (1–200, default 50)');

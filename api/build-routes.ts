// POST /v1/builds (idempotent with Idempotency-Key, rate-limited per token), GET /v1/builds (list),
// GET /v1/builds/:id (long-poll with ?wait=), GET /v1/builds/:id/logs. All scoped to req.auth.project.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { buildStatuses, type BuildRow, type BuildStepRow } from '../core/db/schema/builds.ts';
import { RateLimitedError } from '../core/errors.ts';
import { buildSchema, buildSpecSchema, buildSummarySchema, idParams, listLimit, problemSchema } from './api-schemas.ts';
import type { BuildService } from './build-service.ts';

/** The longest a `?wait=` long-poll holds a request; longer asks are cut to this (proxies drop idle requests). */
export const MAX_WAIT_SECONDS = 60;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const buildSummaryView = (b: BuildRow) => ({
  id: b.id,
  status: b.status,
  imageRef: b.imageRef,
  digest: b.digest,
  error: b.error,
  queuedAt: b.queuedAt.toISOString(),
  startedAt: iso(b.startedAt),
  finishedAt: iso(b.finishedAt),
});

export const buildView = (b: BuildRow, steps: BuildStepRow[]) => ({
  ...buildSummaryView(b),
  spec: b.spec,
  plan: b.plan,
  attempts: b.attempts,
  steps: steps.map((s) => ({ component: s.component, recipeHash: s.recipeHash, seconds: s.seconds, cached: s.cached })),
});

export interface BuildRoutesOptions {
  builds: BuildService;
  /** Builds one token may create per minute. */
  rateLimitPerMinute: number;
}

export const buildRoutes: FastifyPluginAsync<BuildRoutesOptions> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/builds',
    {
      bodyLimit: 256 * 1024,
      config: {
        rateLimit: {
          max: opts.rateLimitPerMinute,
          timeWindow: 60_000,
          keyGenerator: (req) => `token:${req.auth.tokenId}`,
          errorResponseBuilder: (_req, ctx) =>
            new RateLimitedError(`this token may create at most ${ctx.max} builds a minute; retry in ${ctx.after}`, Math.max(1, Math.ceil(ctx.ttl / 1000))),
        },
      },
      schema: {
        operationId: 'createBuild',
        summary: 'Queue a build of root + components + an uploaded binary',
        description:
          'With an `Idempotency-Key` header, repeating the request (same key, same body) returns the build the first one ' +
          'created (`idempotent-replayed: true`) instead of a second build; the same key with another body is 409. ' +
          'Each token may create a limited number of builds per minute (429 beyond, with Retry-After).',
        tags: ['builds'],
        headers: z.looseObject({ 'idempotency-key': z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces').optional() }),
        body: buildSpecSchema,
        response: {
          202: z.object({ id: z.uuid(), status: z.enum(buildStatuses) }),
          400: problemSchema,
          401: problemSchema,
          409: problemSchema,
          413: problemSchema,
          429: problemSchema,
          503: problemSchema,
        },
      },
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key'];
      const { build, replayed } = await opts.builds.create(req.auth.project, req.body, key !== undefined ? { idempotencyKey: key } : {});
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply.code(202).header('location', `/v1/builds/${build.id}`).send({ id: build.id, status: build.status });
    },
  );

  r.get(
    '/v1/builds',
    {
      schema: {
        operationId: 'listBuilds',
        summary: "The caller's project's builds, newest first",
        tags: ['builds'],
        querystring: z.object({ status: z.enum(buildStatuses).optional(), limit: listLimit }),
        response: { 200: z.object({ items: z.array(buildSummarySchema) }), 400: problemSchema, 401: problemSchema },
      },
    },
    async (req) => {
      const rows = await opts.builds.list(req.auth.project, { limit: req.query.limit, ...(req.query.status ? { status: req.query.status } : {}) });
      return { items: rows.map(buildSummaryView) };
    },
  );

  r.get(
    '/v1/builds/:id',
    {
      schema: {
        operationId: 'getBuild',
        summary: 'A build: status, plan, image, digest, step timings, error',
        description:
          `\`?wait=SECONDS\` long-polls: the answer comes as soon as the build has ended (succeeded, failed or canceled), ` +
          `or after SECONDS with the build as it is then. At most ${MAX_WAIT_SECONDS} s (longer asks are cut); loop to wait longer.`,
        tags: ['builds'],
        params: idParams,
        querystring: z.object({ wait: z.coerce.number().int().min(0).optional().describe(`seconds to wait for the build to end (max ${MAX_WAIT_SECONDS})`) }),
        response: { 200: buildSchema, 400: problemSchema, 401: problemSchema, 404: problemSchema },
      },
    },
    async (req, reply) => {
      const wait = Math.min(req.query.wait ?? 0, MAX_WAIT_SECONDS);
      if (wait === 0) {
        const { build, steps } = await opts.builds.get(req.auth.project, req.params.id);
        return buildView(build, steps);
      }
      // Stop waiting for a client that went away: its socket closes before we answered.
      const left = new AbortController();
      const onClose = () => left.abort();
      reply.raw.once('close', onClose);
      try {
        const { build, steps } = await opts.builds.waitForEnd(req.auth.project, req.params.id, wait, left.signal);
        return buildView(build, steps);
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  );

  r.get(
    '/v1/builds/:id/logs',
    {
      schema: {
        operationId: 'getBuildLogs',
        summary: "A build's log (complete once the build has ended)",
        description: 'Plain text; the `x-kiln-build-status` header carries the build status at the time of reading.',
        tags: ['builds'],
        params: idParams,
        response: { 200: z.string(), 401: problemSchema, 404: problemSchema },
      },
    },
    async (req, reply) => {
      const { status, text } = await opts.builds.log(req.auth.project, req.params.id);
      return reply.header('x-kiln-build-status', status).type('text/plain; charset=utf-8').send(text);
    },
  );
};

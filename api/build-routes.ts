// POST /v1/builds (idempotent with Idempotency-Key, rate-limited per token), GET /v1/builds (list),
// GET /v1/builds/:id (long-poll with ?wait=), GET /v1/builds/:id/logs. All scoped to req.auth.project.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { buildStatuses, type BuildRow, type BuildStepRow } from '../core/db/schema/builds.ts';
import { RateLimitedError } from '../core/errors.ts';
import { buildSchema, buildSpecSchema, buildSummarySchema, idParams, isStreamId, listLimit, problemSchema, submitEstimateSchema } from './api-schemas.ts';
import type { BuildPreview } from './build-preview.ts';
import type { BuildService } from './build-service.ts';
import type { BuildProgressView } from './eta-service.ts';
import type { SubmitEstimate } from '../core/eta/estimate-types.ts';
import type { RequestedRoute } from '../core/build-types.ts';
import { holdOpen } from './http-timeouts.ts';

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

export const buildView = (b: BuildRow, steps: BuildStepRow[], queuePosition: number | null, progress: BuildProgressView | null = null) => ({
  ...buildSummaryView(b),
  spec: b.spec,
  plan: b.plan,
  attempts: b.attempts,
  queuePosition,
  steps: steps.map((s) => ({ component: s.component, recipeHash: s.recipeHash, seconds: s.seconds, cached: s.cached, kind: s.kind, bytes: s.bytes ?? null })),
  progress,
});

/** The preview with what a build of it would wait and take (`binaryBytes`: the file's size, when it is chosen). */
export type EstimatedPreview = BuildPreview & { estimate: (SubmitEstimate & { steps: { kind: string; component: string; seconds: number }[] }) | null };

export interface BuildRoutesOptions {
  builds: BuildService;
  preview: (root: string, components: string[], binaryBytes: number | null, route?: RequestedRoute) => Promise<EstimatedPreview>;
  /** Where a build is and what it has left (GET /v1/builds/:id). */
  progress: (build: BuildRow, steps: BuildStepRow[], queuePosition: number | null) => Promise<BuildProgressView | null>;
  /** Builds one token may create per minute. */
  rateLimitPerMinute: number;
}

export const buildRoutes: FastifyPluginAsync<BuildRoutesOptions> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // Open log streams end when the api closes; otherwise a follower of a long build would hold the shutdown.
  const followers = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const f of followers) f.abort();
  });

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
          202: z.object({
            id: z.uuid(),
            status: z.enum(buildStatuses),
            route: z.enum(['composed', 'template', 'install']).nullable().describe('the way it will most likely go (decided for real when it starts)'),
            queuePosition: z.number().int().nullable().describe('1 = next to start; null when it is not waiting'),
            estimate: submitEstimateSchema.nullable().describe('how long until its image is pushed (null when kiln cannot say)'),
          }),
          400: problemSchema,
          401: problemSchema,
          403: problemSchema,
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
      const queuePosition = await opts.builds.queuePosition(build);
      return reply
        .code(202)
        .header('location', `/v1/builds/${build.id}`)
        .send({ id: build.id, status: build.status, route: build.estimate?.route ?? null, queuePosition, estimate: build.estimate ?? null });
    },
  );

  r.post(
    '/v1/builds/preview',
    {
      bodyLimit: 16 * 1024,
      schema: {
        operationId: 'previewBuild',
        summary: 'Which way a build of these components would go now: composed, FROM a template, or installed — and why',
        description:
          'Nothing is recorded or queued. The builder decides for real when the build starts, from the same records: the ' +
          'answer holds unless layers, verifications or templates change meanwhile. `estimate` says how long a build of ' +
          "this would take now (queue + run), learned from this installation's recorded steps, else from the catalog.",
        tags: ['builds'],
        body: z.strictObject({
          root: buildSpecSchema.shape.root,
          components: buildSpecSchema.shape.components,
          binaryBytes: z.number().int().min(0).optional().describe("the binary's size, when known: it prices copying, assembling and pushing it"),
          route: buildSpecSchema.shape.route,
        }),
        response: {
          200: z
            .object({
              route: z.enum(['composed', 'template', 'install']),
              reason: z.string(),
              components: z.array(z.string()).describe('canonical keys, in install order'),
              secondsSaved: z.number().describe('install seconds the route spares'),
              template: z.object({ id: z.string(), covers: z.array(z.string()) }).nullable(),
              verified: z.boolean().nullable().describe('composed: false when its first build verifies the combination'),
              estimate: submitEstimateSchema
                .extend({ steps: z.array(z.object({ kind: z.string(), component: z.string(), seconds: z.number() })).describe('the steps it would take, with their typical seconds') })
                .nullable()
                .describe('how long a build of this, submitted now, would take to its pushed image (null when kiln cannot say)'),
            })
            .meta({ id: 'BuildPreview' }),
          400: problemSchema,
          401: problemSchema,
          413: problemSchema,
        },
      },
    },
    async (req) => opts.preview(req.body.root, req.body.components, req.body.binaryBytes ?? null, req.body.route),
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
        const { build, steps, queuePosition } = await opts.builds.get(req.auth.project, req.params.id);
        return buildView(build, steps, queuePosition, await opts.progress(build, steps, queuePosition));
      }
      // Stop waiting for a client that went away: its socket closes before we answered.
      const left = new AbortController();
      const onClose = () => left.abort();
      reply.raw.once('close', onClose);
      const release = holdOpen(req);
      try {
        const { build, steps, queuePosition } = await opts.builds.waitForEnd(req.auth.project, req.params.id, wait, left.signal);
        return buildView(build, steps, queuePosition, await opts.progress(build, steps, queuePosition));
      } finally {
        release();
        reply.raw.off('close', onClose);
      }
    },
  );

  r.get(
    '/v1/builds/:id/logs',
    {
      schema: {
        operationId: 'getBuildLogs',
        summary: "A build's log: plain text, or followed live as Server-Sent Events",
        description:
          'Plain text by default: the log so far (complete once the build has ended); the `x-kiln-build-status` header ' +
          'carries the status at the time of reading. With `Accept: text/event-stream` the log is followed live: ' +
          '`event: log` with `data: {"text": "..."}` as the build writes it (from the start, or after `Last-Event-ID`), ' +
          'then one `event: end` with `data: {"status": "..."}` when the build ends, and the stream closes. ' +
          'The text of all `log` events equals the plain-text log after the end.',
        tags: ['builds'],
        params: idParams,
        headers: z.looseObject({ 'last-event-id': z.string().max(64).refine(isStreamId, 'a stream id such as 1700000000000-0 (two numbers below 2^64)').optional() }),
        response: {
          200: z.string().describe('text/plain, or text/event-stream when asked for'),
          400: problemSchema,
          401: problemSchema,
          404: problemSchema,
        },
      },
    },
    async (req, reply) => {
      if (!req.headers.accept?.includes('text/event-stream')) {
        const { status, text } = await opts.builds.log(req.auth.project, req.params.id);
        return reply.header('x-kiln-build-status', status).type('text/plain; charset=utf-8').send(text);
      }
      const left = new AbortController();
      followers.add(left);
      left.signal.addEventListener('abort', () => followers.delete(left), { once: true });
      const events = await opts.builds.followLog(req.auth.project, req.params.id, {
        signal: left.signal,
        ...(req.headers['last-event-id'] ? { fromId: req.headers['last-event-id'] } : {}),
      });
      // From here on the answer is a stream we write ourselves; errors can no longer become a problem response.
      void reply.hijack();
      // Waiting between lines is the point of this request; the keep-alive comments below are for proxies.
      const release = holdOpen(req);
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
      reply.raw.flushHeaders();
      reply.raw.once('close', () => left.abort());
      // A comment every 15 s keeps proxies from closing a quiet stream (a long apt-get step prints nothing).
      const keepAlive = setInterval(() => reply.raw.write(': keep-alive\n\n'), 15_000);
      try {
        for await (const ev of events) {
          // data is JSON, so a chunk's newlines cannot end the event early.
          const payload = 'end' in ev ? `event: end\ndata: ${JSON.stringify({ status: ev.end })}` : `event: log\ndata: ${JSON.stringify({ text: ev.text })}`;
          reply.raw.write(`id: ${ev.id}\n${payload}\n\n`);
        }
      } catch (err) {
        req.log.warn({ err }, 'log stream ended early');
        reply.raw.write(`event: error\ndata: ${JSON.stringify({ detail: 'the log stream broke off; reconnect with Last-Event-ID' })}\n\n`);
      } finally {
        clearInterval(keepAlive);
        followers.delete(left);
        release();
        reply.raw.end();
      }
    },
  );

  r.post(
    '/v1/builds/:id/cancel',
    {
      schema: {
        operationId: 'cancelBuild',
        summary: 'Cancel a queued or running build',
        description:
          'A queued build ends `canceled` at once. A running build answers `running`: its builder stops the engine\'s ' +
          'build (removing what it left) within a few seconds and the build ends `canceled`, with nothing pushed — unless ' +
          'the push had already completed, in which case the build ends `succeeded`. An ended build is 409.',
        tags: ['builds'],
        params: idParams,
        response: { 202: buildSummarySchema, 401: problemSchema, 404: problemSchema, 409: problemSchema },
      },
    },
    async (req, reply) => reply.code(202).send(buildSummaryView(await opts.builds.cancel(req.auth.project, req.params.id))),
  );

  r.get(
    '/v1/queue',
    {
      schema: {
        operationId: 'getQueue',
        summary: 'How busy the builders are',
        description:
          'Counts over the whole installation (builders are shared): builds (and template builds) waiting, running, and ' +
          'waiting to be retried. A queued build\'s own place is `queuePosition` in GET /v1/builds/:id. Order: every ' +
          'waiting `interactive` build starts before any waiting `ci` build; template builds come last; first come, first ' +
          'served within each.',
        tags: ['builds'],
        response: { 200: z.object({ waiting: z.number().int(), active: z.number().int(), retrying: z.number().int() }), 401: problemSchema },
      },
    },
    async () => opts.builds.queueCounts(),
  );
};

// Webhooks: manage a project's saved build definitions (/v1/webhooks…), and receive signed push deliveries
// (POST /v1/webhooks/:id/deliveries — no token: the X-Hub-Signature-256 HMAC is the proof).
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { WebhookRow } from '../core/db/schema/webhooks.ts';
import { RateLimitedError } from '../core/errors.ts';
import { buildSpecSchema, idParams, problemSchema, rawBody } from './api-schemas.ts';
import type { SignedDelivery, WebhookService } from './webhook-service.ts';

const definitionSchema = buildSpecSchema
  // Each delivery's commit is the image's tag and revision: a definition names neither.
  .omit({ image: true, revision: true })
  .extend({
    repository: z.string().max(200).describe('image repository; each delivery tags it with the pushed commit id'),
    priority: z.enum(['ci']).optional().describe('always ci: pushes queue behind every interactive build, whatever the project'),
  })
  .meta({ id: 'BuildDefinition' });

const webhookSchema = z
  .object({ id: z.uuid(), name: z.string(), url: z.string().describe('where the sender POSTs deliveries'), definition: definitionSchema, createdAt: z.string() })
  .meta({ id: 'Webhook' });

/** A definition as it is built: a priority other than ci, saved before that rule, is not obeyed, so not shown. */
function shownDefinition(d: WebhookRow['definition']): WebhookRow['definition'] {
  const { priority, ...rest } = d;
  return priority === 'ci' ? d : rest;
}

export interface WebhookRoutesOptions {
  webhooks: WebhookService;
  /** KILN_PUBLIC_URL, if set; else the URL is made from the request's own host. */
  publicUrl: string | undefined;
  /** Signed deliveries one project's webhooks may make per minute, all together (KILN_BUILD_RATE_LIMIT). */
  rateLimitPerMinute: number;
}

export const webhookRoutes: FastifyPluginAsync<WebhookRoutesOptions> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const view = (w: WebhookRow, base: string) => ({
    id: w.id,
    name: w.name,
    url: `${base}/v1/webhooks/${w.id}/deliveries`,
    definition: shownDefinition(w.definition),
    createdAt: w.createdAt.toISOString(),
  });
  const baseOf = (req: { protocol: string; host: string }) => opts.publicUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.host}`;

  r.post(
    '/v1/webhooks',
    {
      bodyLimit: 256 * 1024,
      schema: {
        operationId: 'createWebhook',
        summary: 'Save a build definition behind a webhook; the answer holds its URL and (only here) its secret',
        description:
          'Point a GitHub push webhook (content type application/json) at `url` with `secret`. Each signed push builds the ' +
          'definition as `repository:<commit id>`; a wrong or missing signature gets 401 and starts nothing.',
        tags: ['webhooks'],
        body: z.strictObject({ name: z.string().max(100).default('push'), definition: definitionSchema }),
        response: { 201: webhookSchema.extend({ secret: z.string() }), 400: problemSchema, 401: problemSchema, 403: problemSchema },
      },
    },
    async (req, reply) => {
      const hook = await opts.webhooks.create(req.auth.project, req.body);
      return reply.code(201).send({ ...view(hook, baseOf(req)), secret: hook.secret });
    },
  );

  r.get(
    '/v1/webhooks',
    {
      schema: {
        operationId: 'listWebhooks',
        summary: "The caller's project's webhooks (without secrets)",
        tags: ['webhooks'],
        response: { 200: z.object({ items: z.array(webhookSchema) }), 401: problemSchema },
      },
    },
    async (req) => ({ items: (await opts.webhooks.list(req.auth.project)).map((w) => view(w, baseOf(req))) }),
  );

  r.get(
    '/v1/webhooks/:id',
    {
      schema: { operationId: 'getWebhook', summary: 'A webhook (without its secret)', tags: ['webhooks'], params: idParams, response: { 200: webhookSchema, 401: problemSchema, 404: problemSchema } },
    },
    async (req) => view(await opts.webhooks.get(req.auth.project, req.params.id), baseOf(req)),
  );

  r.delete(
    '/v1/webhooks/:id',
    {
      schema: { operationId: 'deleteWebhook', summary: 'Delete a webhook: its URL stops working', tags: ['webhooks'], params: idParams, response: { 204: z.null(), 401: problemSchema, 404: problemSchema } },
    },
    async (req, reply) => {
      await opts.webhooks.delete(req.auth.project, req.params.id);
      return reply.code(204).send(null);
    },
  );

  // Deliveries in their own scope: the signature covers the exact bytes sent, so the body must stay raw.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    // What each stage of a delivery learned, for the next: the webhook (before the body), then the signed delivery.
    const hooks = new WeakMap<FastifyRequest, WebhookRow>();
    const signed = new WeakMap<FastifyRequest, SignedDelivery>();
    scope.withTypeProvider<ZodTypeProvider>().post(
      '/v1/webhooks/:id/deliveries',
      {
        // GitHub caps payloads at 25 MB; a push with thousands of commits is still far below this.
        bodyLimit: 5 * 1024 * 1024,
        // No token here, so nothing is buffered for a webhook that does not exist: 404 before the body is read.
        onRequest: async (req) => {
          hooks.set(req, await opts.webhooks.find((req.params as { id: string }).id));
        },
        preHandler: async (req) => {
          const delivery = {
            body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
            signature: req.headers['x-hub-signature-256'] as string | undefined,
            event: req.headers['x-github-event'] as string | undefined,
            contentType: req.headers['content-type'],
          };
          signed.set(req, opts.webhooks.verify(hooks.get(req)!, delivery));
        },
        config: {
          auth: 'public',
          // Counted once the signature holds (the rate-limit hook runs after the preHandler above), per project: a
          // project's webhooks together start at most as many builds a minute as one of its tokens may.
          rateLimit: {
            hook: 'preHandler',
            max: opts.rateLimitPerMinute,
            timeWindow: 60_000,
            keyGenerator: (req) => `webhook-project:${hooks.get(req)?.project ?? ''}`,
            errorResponseBuilder: (_req, ctx) =>
              new RateLimitedError(
                `this project's webhooks may start at most ${ctx.max} builds a minute; retry in ${ctx.after}`,
                Math.max(1, Math.ceil(ctx.ttl / 1000)),
              ),
          },
        },
        schema: {
          operationId: 'deliverWebhook',
          summary: 'A signed push delivery (GitHub convention): starts the saved build, tagged with the commit id',
          description:
            'Authenticated by `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with the webhook secret>`, ' +
            'not by a token. `X-GitHub-Event: ping` answers pong; other non-push events are ignored. The commit is ' +
            '`head_commit.id`, else `after`. One build per commit: redeliveries return the same build.',
          tags: ['webhooks'],
          security: [],
          consumes: ['application/json', 'application/x-www-form-urlencoded'],
          params: idParams,
          headers: z.looseObject({ 'x-hub-signature-256': z.string().max(200).optional(), 'x-github-event': z.string().max(100).optional() }),
          body: rawBody('the push payload, exactly as signed'),
          response: {
            200: z.object({ started: z.literal(false), detail: z.string() }),
            202: z.object({ started: z.literal(true), detail: z.string(), build: z.object({ id: z.uuid(), status: z.string(), imageRef: z.string() }) }),
            400: problemSchema,
            401: problemSchema,
            403: problemSchema,
            404: problemSchema,
            413: problemSchema,
            429: problemSchema,
          },
        },
      },
      async (req, reply) => {
        const outcome = await opts.webhooks.deliver(signed.get(req)!);
        if (!outcome.started) return reply.code(200).send({ started: false as const, detail: outcome.detail });
        const { build } = outcome;
        return reply.code(202).send({ started: true as const, detail: outcome.detail, build: { id: build.id, status: build.status, imageRef: build.imageRef } });
      },
    );
  });
};

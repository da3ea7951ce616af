// Operators' routes, outside /v1 and without a token: /healthz (the process answers), /readyz (its dependencies
// answer; 503 naming those that do not) and /metrics (Prometheus text).
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { readinessDetail } from '../core/readiness.ts';
import { dependencyNames, type createReadiness } from './readiness.ts';

const checkSchema = z.object({ ok: z.boolean(), ms: z.number(), error: z.string().optional() });
const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not ready']),
    detail: z.string(),
    down: z.array(z.enum(dependencyNames)),
    checks: z.record(z.enum(dependencyNames), checkSchema),
  })
  .meta({ id: 'Readiness' });

export interface OpsRoutesOptions {
  readiness: ReturnType<typeof createReadiness>;
  metrics: Registry;
}

/**
 * Probes and scrapes come every few seconds (a container healthcheck, Prometheus): their request lines would bury
 * everything else in the log, so these routes log only warnings and errors.
 */
const quiet = 'warn' as const;

export const opsRoutes: FastifyPluginAsync<OpsRoutesOptions> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/healthz',
    {
      logLevel: quiet,
      schema: { operationId: 'getHealth', summary: 'The process is up and serving', tags: ['operations'], security: [], response: { 200: z.object({ status: z.literal('ok') }) } },
    },
    async () => ({ status: 'ok' as const }),
  );

  r.get(
    '/readyz',
    {
      logLevel: quiet,
      schema: {
        operationId: 'getReadiness',
        summary: 'Database, Redis, S3 and registry all answer (200), or which do not (503)',
        tags: ['operations'],
        security: [],
        response: { 200: readinessSchema, 503: readinessSchema },
      },
    },
    async (_req, reply) => {
      const result = await opts.readiness();
      return reply
        .code(result.ready ? 200 : 503)
        .send({ status: result.ready ? 'ready' : 'not ready', detail: readinessDetail(result), down: result.down, checks: result.checks });
    },
  );

  r.get(
    '/metrics',
    {
      logLevel: quiet,
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics: builds by status, build durations, queue depth, template hits and seconds saved',
        tags: ['operations'],
        security: [],
        produces: ['text/plain'],
        response: { 200: z.string() },
      },
    },
    async (_req, reply) => reply.type(opts.metrics.contentType).send(await opts.metrics.metrics()),
  );
};

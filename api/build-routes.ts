// POST /v1/builds, GET /v1/builds/:id, GET /v1/builds/:id/logs.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { BuildRow, BuildStepRow } from '../core/db/schema/builds.ts';
import { buildSchema, buildSpecSchema, idParams, problemSchema } from './api-schemas.ts';
import type { BuildService } from './build-service.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const buildView = (b: BuildRow, steps: BuildStepRow[]) => ({
  id: b.id,
  status: b.status,
  spec: b.spec,
  plan: b.plan,
  imageRef: b.imageRef,
  digest: b.digest,
  error: b.error,
  attempts: b.attempts,
  queuedAt: b.queuedAt.toISOString(),
  startedAt: iso(b.startedAt),
  finishedAt: iso(b.finishedAt),
  steps: steps.map((s) => ({ component: s.component, recipeHash: s.recipeHash, seconds: s.seconds, cached: s.cached })),
});

export const buildRoutes: FastifyPluginAsync<{ builds: BuildService; project: () => string }> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/v1/builds',
    {
      bodyLimit: 256 * 1024,
      schema: {
        operationId: 'createBuild',
        summary: 'Queue a build of root + components + an uploaded binary',
        tags: ['builds'],
        body: buildSpecSchema,
        response: { 202: z.object({ id: z.uuid(), status: z.literal('queued') }), 400: problemSchema, 503: problemSchema },
      },
    },
    async (req, reply) => {
      const build = await opts.builds.create(opts.project(), req.body);
      return reply.code(202).header('location', `/v1/builds/${build.id}`).send({ id: build.id, status: 'queued' as const });
    },
  );

  r.get(
    '/v1/builds/:id',
    {
      schema: { operationId: 'getBuild', summary: 'A build: status, plan, image, digest, step timings, error', tags: ['builds'], params: idParams, response: { 200: buildSchema, 404: problemSchema } },
    },
    async (req) => {
      const { build, steps } = await opts.builds.get(opts.project(), req.params.id);
      return buildView(build, steps);
    },
  );

  r.get(
    '/v1/builds/:id/logs',
    {
      schema: {
        operationId: 'getBuildLogs',
        summary: "A build's log (complete once the build has ended)",
        tags: ['builds'],
        params: idParams,
        response: { 200: z.string(), 404: problemSchema },
      },
    },
    async (req, reply) => {
      const { status, text } = await opts.builds.log(opts.project(), req.params.id);
      return reply.header('x-kiln-build-status', status).type('text/plain; charset=utf-8').send(text);
    },
  );
};

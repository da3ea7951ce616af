// POST /v1/analyzer/run (analyze now) and the record of past runs: what was decided and why.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Queue, QueueEvents } from 'bullmq';
import { z } from 'zod';
import type { TemplateStore } from '../core/db/template-store.ts';
import { NotFoundError } from '../core/errors.ts';
import { ANALYZE_JOB, type AnalyzeJob } from '../core/queues.ts';
import { idParams, isUuid, problemSchema } from './api-schemas.ts';
import { holdOpen } from './http-timeouts.ts';

const runSchema = z
  .object({
    id: z.string(),
    trigger: z.string(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    summary: z.string().nullable(),
    decisions: z.unknown(),
  })
  .meta({ id: 'AnalyzerRun' });

type RunRow = Awaited<ReturnType<TemplateStore['runs']>>[number];
const runView = (r: RunRow) => ({
  id: r.id,
  trigger: r.trigger,
  startedAt: r.startedAt.toISOString(),
  finishedAt: r.finishedAt ? r.finishedAt.toISOString() : null,
  summary: r.summary,
  decisions: r.decisions,
});

export const analyzerRoutes: FastifyPluginAsync<{
  templates: TemplateStore;
  analyzerQueue: Pick<Queue<AnalyzeJob>, 'add'>;
  analyzerEvents: QueueEvents;
}> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/v1/analyzer/run',
    {
      // Templates serve every project: deciding them (and building and retiring images) is an operator's call.
      config: { auth: 'admin' },
      schema: {
        operationId: 'runAnalyzer',
        summary: 'Admin: analyze history now: decide, build, keep, mark stale and retire templates. Waits up to `wait` seconds.',
        description: 'The run (200) if it ends within `wait` seconds, else 202 with the queued job; `wait=0` answers 202 at once.',
        tags: ['templates'],
        querystring: z.object({ wait: z.coerce.number().int().min(0).max(120).default(60).describe('seconds to wait for the run (0: do not wait)') }),
        response: {
          200: runSchema,
          202: z.object({ jobId: z.string(), status: z.literal('queued') }),
          400: problemSchema,
          401: problemSchema,
          403: problemSchema,
          404: problemSchema,
        },
      },
    },
    async (req, reply) => {
      const job = await opts.analyzerQueue.add(ANALYZE_JOB, { trigger: 'manual' }, { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } });
      const queued = { jobId: job.id!, status: 'queued' as const };
      // BullMQ reads a wait of 0 as "no deadline": asked not to wait, answer at once.
      if (req.query.wait === 0) return reply.code(202).send(queued);
      const release = holdOpen(req);
      try {
        const result = (await job.waitUntilFinished(opts.analyzerEvents, req.query.wait * 1000)) as { runId: string };
        const run = await opts.templates.run(result.runId);
        if (!run) throw new NotFoundError(`analyzer run ${result.runId} vanished`);
        return reply.code(200).send(runView(run));
      } catch (err) {
        // No analyzer answered in time (none running, or a long analysis): the job stays queued.
        if (/timed out/i.test((err as Error).message)) return reply.code(202).send(queued);
        throw err;
      } finally {
        release();
      }
    },
  );

  r.get(
    '/v1/analyzer/runs',
    {
      schema: {
        operationId: 'listAnalyzerRuns',
        summary: 'Recent analyzer runs, newest first',
        tags: ['templates'],
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(200).default(20) }),
        response: { 200: z.object({ runs: z.array(runSchema) }), 400: problemSchema },
      },
    },
    async (req) => ({ runs: (await opts.templates.runs(req.query.limit)).map(runView) }),
  );

  r.get(
    '/v1/analyzer/runs/:id',
    { schema: { operationId: 'getAnalyzerRun', summary: 'One analyzer run', tags: ['templates'], params: idParams, response: { 200: runSchema, 404: problemSchema } } },
    async (req) => {
      const run = isUuid(req.params.id) ? await opts.templates.run(req.params.id) : undefined;
      if (!run) throw new NotFoundError(`no analyzer run "${req.params.id}"`);
      return runView(run);
    },
  );
};

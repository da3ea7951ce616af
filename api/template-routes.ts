// GET /v1/templates, GET /v1/stats and GET /v1/stats/daily: what each template is, and what templates saved.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { templateStats } from '../core/templates/template-stats.ts';
import type { TemplateStore } from '../core/db/template-store.ts';
import { templateStatuses, type TemplateRow } from '../core/db/schema/templates.ts';
import { idParams, problemSchema } from './api-schemas.ts';
import type { TemplateService } from './template-service.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const templateSchema = z
  .object({
    id: z.uuid(),
    root: z.string(),
    components: z.array(z.object({ key: z.string(), recipeHash: z.string() })),
    parentId: z.string().nullable(),
    imageRef: z.string(),
    digest: z.string().nullable(),
    sizeBytes: z.number().nullable(),
    status: z.enum(templateStatuses),
    buildSeconds: z.number().nullable(),
    hits: z.number().int(),
    secondsSaved: z.number().describe('install seconds its hits were spared, measured and estimated'),
    secondsSavedMeasured: z.number().describe('the part priced by install times measured on this installation'),
    secondsSavedEstimated: z.number().describe("the part priced by the catalog's estimate: an estimate, not a measurement"),
    lastHitAt: z.string().nullable(),
    error: z.string().nullable(),
    createdAt: z.string(),
    readyAt: z.string().nullable(),
    retiredAt: z.string().nullable(),
  })
  .meta({ id: 'Template' });

export const templateView = (t: TemplateRow): z.infer<typeof templateSchema> => ({
  id: t.id,
  root: t.root,
  components: t.components.map((c) => ({ key: c.key, recipeHash: c.recipeHash })),
  parentId: t.parentId,
  imageRef: t.imageRef,
  digest: t.digest,
  sizeBytes: t.sizeBytes,
  status: t.status,
  buildSeconds: t.buildSeconds,
  hits: t.hits,
  secondsSaved: t.secondsSaved,
  secondsSavedMeasured: t.secondsSaved - t.secondsSavedEstimated,
  secondsSavedEstimated: t.secondsSavedEstimated,
  lastHitAt: iso(t.lastHitAt),
  error: t.error,
  createdAt: t.createdAt.toISOString(),
  readyAt: iso(t.readyAt),
  retiredAt: iso(t.retiredAt),
});

const statsSchema = z
  .object({
    windowDays: z.number(),
    builds: z.number().int(),
    buildsWithTemplate: z.number().int(),
    hitRate: z.number(),
    secondsSaved: z.number().describe('measured plus estimated'),
    secondsSavedMeasured: z.number().describe('priced by install times measured on this installation'),
    secondsSavedEstimated: z.number().describe("priced by the catalog's estimate (never measured here): an estimate"),
    buildsComposed: z.number().int().describe('builds assembled from prebuilt component layers (no install step)'),
    secondsSavedComposed: z.number().describe('install seconds composed builds did not spend'),
    secondsSavedComposedEstimated: z.number().describe("of which priced by the catalog's estimate"),
    buildsCached: z.number().int().describe("builds the engine's layer cache answered at least one install step of"),
    secondsSavedCache: z.number().describe('install seconds the layer cache spared (cached steps priced at install costs, less their own seconds)'),
    secondsSavedCacheEstimated: z.number().describe("of which priced by the catalog's estimate"),
    perTemplate: z.array(
      z.object({
        templateId: z.string(),
        hits: z.number().int(),
        secondsSaved: z.number(),
        secondsSavedMeasured: z.number(),
        secondsSavedEstimated: z.number(),
        meanSecondsWith: z.number().nullable().describe('mean observed build duration (started → finished) of its hits'),
        meanSecondsWithout: z.number().nullable().describe('the same for builds that wanted all its components but ran without it'),
        buildsWithout: z.number().int(),
      }),
    ),
    perDay: z.array(
      z.object({
        day: z.string(),
        builds: z.number().int(),
        withTemplate: z.number().int(),
        secondsSaved: z.number(),
        avgSecondsWithTemplate: z.number().nullable(),
        avgSecondsWithout: z.number().nullable(),
      }),
    ),
  })
  .meta({ id: 'TemplateStats' });

const dailyStatsSchema = z
  .object({
    days: z.array(
      z.object({
        day: z.string().describe('UTC date, YYYY-MM-DD'),
        builds: z.number().int().describe('succeeded builds that finished that day'),
        buildsWithTemplate: z.number().int(),
        secondsSaved: z.number().describe('install seconds templates spared that day'),
        buildsComposed: z.number().int().describe('builds assembled from prebuilt component layers'),
        secondsSavedComposed: z.number().describe('install seconds composed builds did not spend that day'),
        medianSecondsComposed: z.number().nullable(),
        secondsSavedCache: z.number().describe("install seconds the engine's layer cache spared that day"),
        medianSecondsWithTemplate: z.number().nullable().describe('build duration (started → finished); null without such builds'),
        medianSecondsWithout: z.number().nullable().describe('builds that installed everything (no template, not composed)'),
        meanSecondsWithTemplate: z.number().nullable(),
        meanSecondsWithout: z.number().nullable(),
      }),
    ),
  })
  .meta({ id: 'DailyTemplateStats' });

export const templateRoutes: FastifyPluginAsync<{ templates: TemplateStore; service: TemplateService }> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/v1/templates',
    {
      schema: {
        operationId: 'listTemplates',
        summary: 'Templates with their components, hits, seconds saved, size and status',
        tags: ['templates'],
        querystring: z.object({ status: z.enum(templateStatuses).optional() }),
        response: { 200: z.object({ templates: z.array(templateSchema) }), 400: problemSchema },
      },
    },
    async (req) => ({ templates: (await opts.templates.list(req.query.status ? [req.query.status] : undefined)).map(templateView) }),
  );

  r.get(
    '/v1/templates/:id',
    {
      schema: {
        operationId: 'getTemplate',
        summary: 'One template',
        tags: ['templates'],
        params: idParams,
        response: { 200: templateSchema, 401: problemSchema, 404: problemSchema },
      },
    },
    async (req) => templateView(await opts.service.get(req.params.id)),
  );

  r.get(
    '/v1/templates/:id/logs',
    {
      schema: {
        operationId: 'getTemplateLogs',
        summary: "A template build's log, as plain text",
        description: 'The log so far (complete once the template is no longer `building`); `x-kiln-template-status` carries the status.',
        tags: ['templates'],
        params: idParams,
        response: { 200: z.string().describe('text/plain'), 401: problemSchema, 404: problemSchema },
      },
    },
    async (req, reply) => {
      const { status, text } = await opts.service.log(req.params.id);
      return reply.header('x-kiln-template-status', status).type('text/plain; charset=utf-8').send(text);
    },
  );

  r.post(
    '/v1/templates/:id/cancel',
    {
      // Templates serve every project: stopping one is an operator's call.
      config: { auth: 'admin' },
      schema: {
        operationId: 'cancelTemplateBuild',
        summary: "Admin: cancel a template's build",
        description:
          'A template build still waiting ends `canceled` at once. A running one answers `building`: its builder stops ' +
          "the engine's build within a few seconds and the template ends `canceled`, with nothing pushed. A later analysis " +
          'builds it again if it is still worth it. A template that is not `building` is 409.',
        tags: ['templates'],
        params: idParams,
        response: { 202: templateSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema, 409: problemSchema },
      },
    },
    async (req, reply) => reply.code(202).send(templateView(await opts.service.cancel(req.params.id))),
  );

  r.get(
    '/v1/stats',
    {
      schema: {
        operationId: 'getTemplateStats',
        summary: 'Time saved over a window — by templates (hit rate, per template, per day), composition and the layer cache',
        tags: ['templates'],
        querystring: z.object({ windowDays: z.coerce.number().min(1).max(365).default(30) }),
        response: { 200: statsSchema, 400: problemSchema },
      },
    },
    async (req) => {
      const since = new Date(Date.now() - req.query.windowDays * 86400_000);
      const templates = (await opts.templates.list()).map((t) => ({ id: t.id, components: t.components.map((c) => c.key) }));
      return templateStats(await opts.templates.finishedBuilds(since), req.query.windowDays, templates);
    },
  );

  r.get(
    '/v1/stats/daily',
    {
      schema: {
        operationId: 'getDailyTemplateStats',
        summary: 'Per UTC day: time templates saved, and build duration with and without a template',
        description: 'The last `days` days, today included, oldest first; days without builds are present with zeros and nulls.',
        tags: ['templates'],
        querystring: z.object({ days: z.coerce.number().int().min(1).max(365).default(30) }),
        response: { 200: dailyStatsSchema, 400: problemSchema },
      },
    },
    async (req) => ({ days: await opts.templates.dailyBuildStats(req.query.days) }),
  );
};

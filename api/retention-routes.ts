// A project's retention rule (admin): keep each repository's newest N tags, or tags younger than D days. The analyzer
// applies every rule on a schedule (KILN_RETENTION_INTERVAL_SECONDS); POST …/retention/run applies one now.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ImageStore } from '../core/db/image-store.ts';
import type { ProjectStore } from '../core/db/project-store.ts';
import type { RetentionRuleRow } from '../core/db/schema/images.ts';
import { storableReal } from '../core/db/storable-values.ts';
import { NotFoundError } from '../core/errors.ts';
import type { ImageDeletion } from '../core/images/image-deletion.ts';
import { problemSchema } from './api-schemas.ts';

/** Less than this (about a minute and a half) is no retention period anyone means; far less would not even store. */
const MIN_KEEP_DAYS = 0.001;

const ruleBody = z
  .strictObject({
    keepNewest: z.number().int().min(1).max(100_000).nullable().default(null).describe("keep each repository's newest N tags"),
    keepDays: storableReal().min(MIN_KEEP_DAYS).max(36_500).nullable().default(null).describe(`keep tags pushed less than D days ago (${MIN_KEEP_DAYS}–36500)`),
  })
  .refine((r) => r.keepNewest !== null || r.keepDays !== null, { message: 'give keepNewest, keepDays or both', path: ['keepNewest'] });

const tagRef = z.object({ id: z.string(), repository: z.string(), tag: z.string() });
const resultSchema = z
  .object({
    project: z.string(),
    rule: z.object({ keepNewest: z.number().nullable(), keepDays: z.number().nullable() }),
    ranAt: z.string(),
    kept: z.number().int().describe('tags the rule keeps'),
    deleted: z.array(tagRef.extend({ digest: z.string() })),
    keptBack: z.array(tagRef.extend({ reason: z.string() })).describe('named by the rule, not deleted: another tag points at the digest, or the registry failed'),
  })
  .meta({ id: 'RetentionResult' });

const ruleSchema = z
  .object({
    project: z.string(),
    keepNewest: z.number().nullable(),
    keepDays: z.number().nullable(),
    updatedAt: z.string(),
    lastRunAt: z.string().nullable(),
    lastResult: resultSchema.nullable(),
  })
  .meta({ id: 'RetentionRule' });

const ruleView = (r: RetentionRuleRow) => ({
  project: r.project,
  keepNewest: r.keepNewest,
  keepDays: r.keepDays,
  updatedAt: r.updatedAt.toISOString(),
  lastRunAt: r.lastRunAt ? r.lastRunAt.toISOString() : null,
  lastResult: (r.lastResult as z.infer<typeof resultSchema> | null) ?? null,
});

const params = z.object({ name: z.string().max(63) });
const refused = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema };

export interface RetentionRoutesOptions {
  images: Pick<ImageStore, 'rule' | 'putRule' | 'deleteRule'>;
  projects: Pick<ProjectStore, 'getProject'>;
  deletion: Pick<ImageDeletion, 'applyRetention'>;
}

export const retentionRoutes: FastifyPluginAsync<RetentionRoutesOptions> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const project = async (name: string) => {
    if (!(await opts.projects.getProject(name))) throw new NotFoundError(`no project "${name}"`);
    return name;
  };
  const rule = async (name: string) => {
    const found = await opts.images.rule(await project(name));
    if (!found) throw new NotFoundError(`project "${name}" has no retention rule`);
    return found;
  };

  r.get(
    '/v1/projects/:name/retention',
    {
      config: { auth: 'admin' },
      schema: { operationId: 'getRetention', summary: "A project's retention rule and its last run (admin)", tags: ['admin'], params, response: { 200: ruleSchema, ...refused } },
    },
    async (req) => ruleView(await rule(req.params.name)),
  );

  r.put(
    '/v1/projects/:name/retention',
    {
      bodyLimit: 16 * 1024,
      config: { auth: 'admin' },
      schema: {
        operationId: 'putRetention',
        summary: "Set a project's retention rule (admin)",
        description: 'A tag is kept while it is among its repository’s newest `keepNewest`, or younger than `keepDays`; every other tag is deleted by the next run, unless another tag points at its digest.',
        tags: ['admin'],
        params,
        body: ruleBody,
        response: { 200: ruleSchema, ...refused },
      },
    },
    async (req) => ruleView(await opts.images.putRule(await project(req.params.name), req.body)),
  );

  r.delete(
    '/v1/projects/:name/retention',
    {
      config: { auth: 'admin' },
      schema: { operationId: 'deleteRetention', summary: "Remove a project's retention rule (admin): nothing is deleted any more", tags: ['admin'], params, response: { 204: z.null(), ...refused } },
    },
    async (req, reply) => {
      if (!(await opts.images.deleteRule(await project(req.params.name)))) throw new NotFoundError(`project "${req.params.name}" has no retention rule`);
      return reply.code(204).send(null);
    },
  );

  r.post(
    '/v1/projects/:name/retention/run',
    {
      config: { auth: 'admin' },
      schema: {
        operationId: 'runRetention',
        summary: "Apply a project's retention rule now (admin)",
        tags: ['admin'],
        params,
        response: { 200: resultSchema, ...refused, 503: problemSchema },
      },
    },
    async (req) => {
      await rule(req.params.name);
      return (await opts.deletion.applyRetention(req.params.name))!;
    },
  );
};

// Projects and API tokens (admin only), and GET /v1/me (who a token is). A token is shown once, when created.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { TokenService } from '../core/auth/token-service.ts';
import type { ProjectStore } from '../core/db/project-store.ts';
import type { ApiTokenRow, ProjectRow } from '../core/db/schema/projects.ts';
import { problemSchema } from './api-schemas.ts';
import type { ProjectService } from './project-service.ts';

const projectSchema = z.object({ name: z.string(), description: z.string().nullable(), createdAt: z.string() }).meta({ id: 'Project' });
const tokenSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    project: z.string().nullable().describe('null for an admin token'),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: 'ApiToken' });

const projectView = (p: ProjectRow) => ({ name: p.name, description: p.description, createdAt: p.createdAt.toISOString() });
const tokenView = (t: ApiTokenRow) => ({
  id: t.id,
  name: t.name,
  project: t.project,
  createdAt: t.createdAt.toISOString(),
  revokedAt: t.revokedAt ? t.revokedAt.toISOString() : null,
});

const refused = { 400: problemSchema, 401: problemSchema, 403: problemSchema };
const small = 16 * 1024;

export interface ProjectRoutesOptions {
  projects: ProjectService;
  tokens: TokenService;
  store: Pick<ProjectStore, 'listTokens'>;
}

export const projectRoutes: FastifyPluginAsync<ProjectRoutesOptions> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/v1/me',
    {
      schema: {
        operationId: 'getCaller',
        summary: 'Who the token is: the project requests act in, and whether it is an admin token',
        tags: ['auth'],
        response: { 200: z.object({ project: z.string(), admin: z.boolean(), tokenId: z.string() }), 401: problemSchema },
      },
    },
    async (req) => ({ project: req.auth.project, admin: req.auth.admin, tokenId: req.auth.tokenId }),
  );

  r.post(
    '/v1/projects',
    {
      bodyLimit: small,
      config: { auth: 'admin' },
      schema: {
        operationId: 'createProject',
        summary: 'Create a project (admin); its name is its image namespace',
        tags: ['admin'],
        body: z.strictObject({ name: z.string().max(63), description: z.string().max(500).optional() }),
        response: { 201: projectSchema, ...refused, 409: problemSchema },
      },
    },
    async (req, reply) => reply.code(201).send(projectView(await opts.projects.create(req.body))),
  );

  r.get(
    '/v1/projects',
    {
      config: { auth: 'admin' },
      schema: { operationId: 'listProjects', summary: 'Every project (admin)', tags: ['admin'], response: { 200: z.object({ items: z.array(projectSchema) }), ...refused } },
    },
    async () => ({ items: (await opts.projects.list()).map(projectView) }),
  );

  r.post(
    '/v1/tokens',
    {
      bodyLimit: small,
      config: { auth: 'admin' },
      schema: {
        operationId: 'createToken',
        summary: 'Create an API token (admin): for a project, or with `project: null` an admin token',
        description: 'The token is in this answer only: kiln keeps its hash, never the token. Send it as `Authorization: Bearer <token>`.',
        tags: ['admin'],
        body: z.strictObject({ name: z.string().max(100), project: z.string().max(63).nullable() }),
        response: { 201: tokenSchema.extend({ token: z.string() }), ...refused, 404: problemSchema },
      },
    },
    async (req, reply) => {
      const { row, token } = await opts.tokens.create(req.body);
      return reply.code(201).send({ ...tokenView(row), token });
    },
  );

  r.get(
    '/v1/tokens',
    {
      config: { auth: 'admin' },
      schema: {
        operationId: 'listTokens',
        summary: 'API tokens (admin), without their secrets; `?project=` narrows to one project',
        tags: ['admin'],
        querystring: z.object({ project: z.string().max(63).optional() }),
        response: { 200: z.object({ items: z.array(tokenSchema) }), ...refused },
      },
    },
    async (req) => ({ items: (await opts.store.listTokens(req.query.project)).map(tokenView) }),
  );

  r.delete(
    '/v1/tokens/:id',
    {
      config: { auth: 'admin' },
      schema: {
        operationId: 'revokeToken',
        summary: 'Revoke an API token (admin): from now on it gets 401',
        tags: ['admin'],
        params: z.object({ id: z.uuid() }),
        response: { 200: tokenSchema, ...refused, 404: problemSchema },
      },
    },
    async (req) => tokenView(await opts.tokens.revoke(req.params.id)),
  );
};

// GET /v1/components: the catalog as a form (or a CI author) needs it.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Catalog } from '../core/catalog/catalog.ts';
import { compareVersions } from '../core/catalog/catalog.ts';

const constraint = z.object({ component: z.string(), versions: z.string().optional(), reason: z.string().optional() });

const catalogSchema = z
  .object({
    roots: z.array(z.object({ name: z.string(), description: z.string() })),
    components: z.array(
      z.object({
        name: z.string(),
        description: z.string(),
        default: z.string(),
        /** Position in the canonical install order. */
        rank: z.number(),
        versions: z.array(
          z.object({
            version: z.string(),
            key: z.string(),
            description: z.string().optional(),
            roots: z.array(z.string()),
            env: z.record(z.string(), z.string()),
            requires: z.array(constraint),
            conflicts: z.array(constraint),
            costEstimateSeconds: z.number(),
            recipeHash: z.string(),
            composable: z.boolean().describe('false: builds with it install it instead of assembling a prebuilt layer'),
          }),
        ),
      }),
    ),
  })
  .meta({ id: 'Catalog' });

export function catalogView(catalog: Catalog): z.infer<typeof catalogSchema> {
  return {
    roots: [...catalog.roots.values()].map((r) => ({ name: r.name, description: r.description })),
    components: [...catalog.components.values()]
      .sort((a, b) => a.rank - b.rank || a.name.localeCompare(b.name))
      .map((c) => ({
        name: c.name,
        description: c.description,
        default: c.default,
        rank: c.rank,
        versions: [...c.versions.values()]
          .sort((a, b) => compareVersions(b.version, a.version))
          .map((v) => ({
            version: v.version,
            key: v.key,
            ...(v.description ? { description: v.description } : {}),
            roots: v.roots,
            env: v.env,
            requires: v.requires,
            conflicts: v.conflicts,
            costEstimateSeconds: v.costEstimateSeconds,
            recipeHash: v.recipeHash,
            composable: v.composable,
          })),
      })),
  };
}

export const componentRoutes: FastifyPluginAsync<{ catalog: Catalog }> = async (app, opts) => {
  const view = catalogView(opts.catalog); // the catalog is fixed for the life of the process
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/components',
    {
      schema: {
        operationId: 'listComponents',
        summary: 'The catalog: roots, components, versions, defaults, constraints, cost estimates',
        tags: ['catalog'],
        response: { 200: catalogSchema },
      },
    },
    async () => view,
  );
};

// GET /v1/layers and GET /v1/compositions: composition's state, for people and tests — which component layers exist
// (or failed), and which combinations are verified or refused, with the paths or checks that refused them.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CompositionStore } from '../core/db/composition-store.ts';
import { compositionStatuses, layerStatuses, type ComponentLayerRow, type CompositionRow } from '../core/db/schema/compositions.ts';
import { problemSchema } from './api-schemas.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const layerSchema = z
  .object({
    id: z.string(),
    root: z.string(),
    component: z.string().describe('name@version'),
    recipeHash: z.string(),
    base: z.array(z.string()).describe('the components whose layers it was built on (what it requires)'),
    status: z.enum(layerStatuses),
    digest: z.string().nullable(),
    diffId: z.string().nullable(),
    sizeBytes: z.number().nullable().describe('gzipped'),
    unpackedBytes: z.number().nullable(),
    sharedPaths: z.array(z.string()).nullable().describe('shared state it writes (reconciled by the merge layer)'),
    whiteouts: z.array(z.string()).nullable().describe('paths it deletes from its base'),
    droppedMarkers: z.number().nullable().describe('opaque markers dropped on normalizing (directories it created)'),
    buildSeconds: z.number().nullable(),
    error: z.string().nullable(),
    createdAt: z.string(),
    readyAt: z.string().nullable(),
  })
  .meta({ id: 'ComponentLayer' });

const compositionSchema = z
  .object({
    key: z.string(),
    root: z.string(),
    components: z.array(z.string()),
    layers: z.array(z.object({ component: z.string(), digest: z.string() })),
    status: z.enum(compositionStatuses),
    mergeDigest: z.string().nullable(),
    imageRef: z.string().nullable().describe('the verified image without a binary'),
    conflicts: z.array(z.string()).nullable().describe('why it is not composable: paths two layers disagree on, or checks that failed'),
    error: z.string().nullable(),
    verifySeconds: z.number().nullable(),
    hits: z.number().int().describe('builds composed from it'),
    createdAt: z.string(),
    verifiedAt: z.string().nullable(),
  })
  .meta({ id: 'Composition' });

export const layerView = (l: ComponentLayerRow): z.infer<typeof layerSchema> => ({
  id: l.id,
  root: l.root,
  component: l.componentKey,
  recipeHash: l.recipeHash,
  base: l.baseLayers.map((b) => b.componentKey),
  status: l.status,
  digest: l.digest,
  diffId: l.diffId,
  sizeBytes: l.sizeBytes,
  unpackedBytes: l.unpackedBytes,
  sharedPaths: l.sharedPaths,
  whiteouts: l.whiteouts,
  droppedMarkers: l.droppedMarkers,
  buildSeconds: l.buildSeconds,
  error: l.error,
  createdAt: l.createdAt.toISOString(),
  readyAt: iso(l.readyAt),
});

export const compositionView = (c: CompositionRow): z.infer<typeof compositionSchema> => ({
  key: c.key,
  root: c.root,
  components: c.componentKey ? c.componentKey.split('+') : [],
  layers: c.layers.map((l) => ({ component: l.componentKey, digest: l.digest })),
  status: c.status,
  mergeDigest: c.mergeDigest,
  imageRef: c.imageRef,
  conflicts: c.conflicts,
  error: c.error,
  verifySeconds: c.verifySeconds,
  hits: c.hits,
  createdAt: c.createdAt.toISOString(),
  verifiedAt: iso(c.verifiedAt),
});

export const compositionRoutes: FastifyPluginAsync<{ store: CompositionStore }> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/v1/layers',
    {
      schema: {
        operationId: 'listLayers',
        summary: 'Component layers: each component version installed once, kept in the registry for composition',
        tags: ['composition'],
        querystring: z.object({ status: z.enum(layerStatuses).optional() }),
        response: { 200: z.object({ layers: z.array(layerSchema) }), 400: problemSchema, 401: problemSchema },
      },
    },
    async (req) => ({ layers: (await opts.store.layers(req.query.status ? [req.query.status] : undefined)).map(layerView) }),
  );
  r.get(
    '/v1/compositions',
    {
      schema: {
        operationId: 'listCompositions',
        summary: 'Combinations of layers: verified (builds of them are composed) or refused, and why',
        tags: ['composition'],
        querystring: z.object({ status: z.enum(compositionStatuses).optional() }),
        response: { 200: z.object({ compositions: z.array(compositionSchema) }), 400: problemSchema, 401: problemSchema },
      },
    },
    async (req) => ({ compositions: (await opts.store.compositions(req.query.status ? [req.query.status] : undefined)).map(compositionView) }),
  );
};

// The image catalog: GET /v1/images (the project's pushed images, filtered and paged), GET and DELETE /v1/images/:id.
// kiln answers these from its own records (what every image is made of), not from the registry's list API.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ImageFilters, ImageStore, PageCursor } from '../core/db/image-store.ts';
import { dateProblem, storableDateTime } from '../core/db/storable-values.ts';
import { imageStatuses, type ImageRow } from '../core/db/schema/images.ts';
import { ForbiddenError, NotFoundError, ValidationError } from '../core/errors.ts';
import { isKilnNamespace } from '../core/kiln-repositories.ts';
import type { ImageDeletion } from '../core/images/image-deletion.ts';
import { idParams, isUuid, problemSchema } from './api-schemas.ts';
import { atField } from './error-handler.ts';

export const imageSchema = z
  .object({
    id: z.uuid(),
    repository: z.string().describe('as the build named it, below REGISTRY_PREFIX/<project>/'),
    tag: z.string(),
    imageRef: z.string(),
    digest: z.string(),
    components: z.array(z.string()).describe('name@version, in install order'),
    templateId: z.string().nullable().describe('the template it was built FROM'),
    uploadSha256: z.string().describe('sha256 of the binary (or archive) it holds'),
    buildId: z.uuid(),
    status: z.enum(imageStatuses).describe('current: its tag points at it; superseded: a later push moved its tag; deleted'),
    pushedAt: z.string(),
    deletedAt: z.string().nullable(),
    deletedBy: z.string().nullable().describe('user or retention'),
  })
  .meta({ id: 'Image' });

export const imageView = (i: ImageRow): z.infer<typeof imageSchema> => ({
  id: i.id,
  repository: i.repository,
  tag: i.tag,
  imageRef: i.imageRef,
  digest: i.digest,
  components: i.components,
  templateId: i.templateId,
  uploadSha256: i.uploadSha256,
  buildId: i.buildId,
  status: i.status,
  pushedAt: i.pushedAt.toISOString(),
  deletedAt: i.deletedAt ? i.deletedAt.toISOString() : null,
  deletedBy: i.deletedBy,
});

/** The page cursor is opaque to clients: base64url of the last item's push time and id. */
const encodeCursor = (c: PageCursor) => Buffer.from(JSON.stringify([c.pushedAt.toISOString(), c.id])).toString('base64url');
function decodeCursor(text: string): PageCursor {
  try {
    const [at, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as [string, string];
    const pushedAt = new Date(at);
    // A date the database cannot compare with (year 0, ±270,000) is no cursor this list made.
    if (typeof id === 'string' && isUuid(id) && dateProblem(pushedAt) === undefined) return { pushedAt, id };
  } catch {
    /* reported below */
  }
  throw new ValidationError([{ field: 'cursor', message: 'is not a cursor this list handed out (nextCursor)' }]);
}

const listQuery = z.object({
  repository: z.string().max(200).optional().describe('exact repository, e.g. team/app'),
  tag: z.string().max(128).optional(),
  component: z
    .string()
    .max(100)
    .regex(/^[a-z0-9][a-z0-9._-]*(@[A-Za-z0-9._-]+)?$/, 'name or name@version')
    .optional()
    .describe('images holding this component: jdk (any version) or jdk@17'),
  template: z.uuid().optional().describe('images built FROM this template'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits').optional().describe('images holding the upload with this sha256'),
  status: z.enum(imageStatuses).optional(),
  since: storableDateTime().optional().describe('pushed at or after (ISO 8601, years 0001–9999)'),
  until: storableDateTime().optional().describe('pushed before (ISO 8601, years 0001–9999)'),
  limit: z.coerce.number().int().min(1).max(200).default(50).describe('at most this many items (1–200, default 50)'),
  cursor: z.string().max(200).optional().describe("the previous page's nextCursor"),
});

export interface ImageRoutesOptions {
  images: Pick<ImageStore, 'list' | 'get'>;
  deletion: Pick<ImageDeletion, 'deleteImage'>;
}

export const imageRoutes: FastifyPluginAsync<ImageRoutesOptions> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/v1/images',
    {
      schema: {
        operationId: 'listImages',
        summary: "The project's pushed images, newest first, filtered and paged",
        description:
          'Every filter narrows the list (they combine with AND). Pages: pass the answer\'s `nextCursor` as `cursor` for the ' +
          'next page; it is absent on the last page.',
        tags: ['images'],
        querystring: listQuery,
        response: { 200: z.object({ items: z.array(imageSchema), nextCursor: z.string().optional() }), 400: problemSchema, 401: problemSchema },
      },
    },
    async (req) => {
      const q = req.query;
      if (q.since && q.until && Date.parse(q.since) >= Date.parse(q.until)) throw new ValidationError([{ field: 'until', message: 'must be after since' }]);
      const filters: ImageFilters = {
        ...(q.repository ? { repository: q.repository } : {}),
        ...(q.tag ? { tag: q.tag } : {}),
        ...(q.component ? { component: q.component } : {}),
        ...(q.template ? { templateId: q.template } : {}),
        ...(q.sha256 ? { uploadSha256: q.sha256 } : {}),
        ...(q.status ? { status: q.status } : {}),
        ...(q.since ? { since: new Date(q.since) } : {}),
        ...(q.until ? { until: new Date(q.until) } : {}),
      };
      const { items, more } = await opts.images.list(req.auth.project, filters, q.limit, q.cursor ? decodeCursor(q.cursor) : undefined);
      const last = items.at(-1);
      return { items: items.map(imageView), ...(more && last ? { nextCursor: encodeCursor({ pushedAt: last.pushedAt, id: last.id }) } : {}) };
    },
  );

  r.get(
    '/v1/images/:id',
    {
      schema: {
        operationId: 'getImage',
        summary: 'One image of the project',
        tags: ['images'],
        params: idParams,
        response: { 200: imageSchema, 400: problemSchema, 401: problemSchema, 404: problemSchema },
      },
    },
    async (req) => {
      const image = isUuid(req.params.id) ? await opts.images.get(req.auth.project, req.params.id) : undefined;
      if (!image) throw new NotFoundError(`no image "${req.params.id}"`);
      return imageView(image);
    },
  );

  r.delete(
    '/v1/images/:id',
    {
      schema: {
        operationId: 'deleteImage',
        summary: 'Delete the image’s manifest in the registry and mark it deleted',
        description:
          'A registry deletes a manifest by digest, with every tag pointing at it: when another tag points at the same ' +
          'digest, nothing is deleted and the answer is 409 naming those tags. Deleting an image already deleted answers it as it is.',
        tags: ['images'],
        params: idParams,
        response: { 200: imageSchema, 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema, 409: problemSchema, 503: problemSchema },
      },
    },
    async (req) => {
      if (isKilnNamespace(req.auth.project)) {
        throw atField(new ForbiddenError(`project "${req.auth.project}" may not delete images: its namespace is one of kiln's own repositories`), 'project');
      }
      if (!isUuid(req.params.id)) throw new NotFoundError(`no image "${req.params.id}"`);
      return imageView(await opts.deletion.deleteImage(req.auth.project, req.params.id));
    },
  );
};

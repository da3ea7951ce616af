// POST /v1/uploads (raw body, streamed) and GET /v1/uploads/:id.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { UploadRow } from '../core/db/schema/uploads.ts';
import { idParams, problemSchema, uploadSchema } from './api-schemas.ts';
import type { UploadService } from './upload-service.ts';

const view = (u: UploadRow) => ({ id: u.id, sha256: u.sha256, size: u.size, filename: u.filename, createdAt: u.createdAt.toISOString() });

export const uploadRoutes: FastifyPluginAsync<{ uploads: UploadService; project: () => string }> = async (app, opts) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // The body is the file itself, whatever its type: hand the raw stream to the service instead of parsing it.
  r.removeAllContentTypeParsers();
  r.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  r.post(
    '/v1/uploads',
    {
      schema: {
        operationId: 'createUpload',
        summary: 'Upload a binary (the request body is the file)',
        tags: ['uploads'],
        querystring: z.object({ filename: z.string().max(255).optional() }),
        response: { 201: uploadSchema, 400: problemSchema, 413: problemSchema },
      },
    },
    async (req, reply) => {
      const length = req.headers['content-length'];
      const upload = await opts.uploads.upload({
        project: opts.project(),
        body: req.body as Readable,
        ...(length !== undefined ? { declaredLength: Number(length) } : {}),
        ...(req.query.filename !== undefined ? { filename: req.query.filename } : {}),
      });
      return reply.code(201).send(view(upload));
    },
  );

  r.get(
    '/v1/uploads/:id',
    {
      schema: {
        operationId: 'getUpload',
        summary: 'An upload',
        tags: ['uploads'],
        params: idParams,
        response: { 200: uploadSchema, 404: problemSchema },
      },
    },
    async (req) => view(await opts.uploads.get(opts.project(), req.params.id)),
  );
};

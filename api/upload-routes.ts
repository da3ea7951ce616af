// POST /v1/uploads (raw body, streamed), GET /v1/uploads (list) and GET /v1/uploads/:id, scoped to req.auth.project.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { UploadRow } from '../core/db/schema/uploads.ts';
import { idParams, listLimit, problemSchema, rawBody, uploadSchema } from './api-schemas.ts';
import type { UploadService } from './upload-service.ts';

const view = (u: UploadRow) => ({ id: u.id, sha256: u.sha256, size: u.size, filename: u.filename, createdAt: u.createdAt.toISOString() });

export const uploadRoutes: FastifyPluginAsync<{ uploads: UploadService; limitBytes: number }> = async (app, opts) => {
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
        description: `Streamed to S3 while hashed; the same bytes twice are one upload. Larger than ${opts.limitBytes} bytes: 413, nothing kept.`,
        tags: ['uploads'],
        consumes: ['application/octet-stream'],
        querystring: z.object({ filename: z.string().max(255).optional() }),
        body: rawBody('the file'),
        response: { 201: uploadSchema, 400: problemSchema, 401: problemSchema, 413: problemSchema },
      },
    },
    async (req, reply) => {
      const length = req.headers['content-length'];
      const upload = await opts.uploads.upload({
        project: req.auth.project,
        body: req.body as Readable,
        ...(length !== undefined ? { declaredLength: Number(length) } : {}),
        ...(req.query.filename !== undefined ? { filename: req.query.filename } : {}),
      });
      return reply.code(201).send(view(upload));
    },
  );

  r.get(
    '/v1/uploads',
    {
      schema: {
        operationId: 'listUploads',
        summary: "The caller's project's uploads, newest first",
        tags: ['uploads'],
        querystring: z.object({ limit: listLimit }),
        response: { 200: z.object({ items: z.array(uploadSchema) }), 400: problemSchema, 401: problemSchema },
      },
    },
    async (req) => ({ items: (await opts.uploads.list(req.auth.project, { limit: req.query.limit })).map(view) }),
  );

  r.get(
    '/v1/uploads/:id',
    {
      schema: {
        operationId: 'getUpload',
        summary: 'An upload',
        tags: ['uploads'],
        params: idParams,
        response: { 200: uploadSchema, 401: problemSchema, 404: problemSchema },
      },
    },
    async (req) => view(await opts.uploads.get(req.auth.project, req.params.id)),
  );
};

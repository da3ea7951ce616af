// POST /v1/uploads (raw body, streamed; a file or a tar archive), GET /v1/uploads (list) and GET /v1/uploads/:id, scoped to req.auth.project.
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { UploadRow } from '../core/db/schema/uploads.ts';
import { idParams, listLimit, problemSchema, rawBody, uploadSchema } from './api-schemas.ts';
import { idleClockOnlyForClient } from './http-timeouts.ts';
import type { UploadService } from './upload-service.ts';

const view = (u: UploadRow) => ({
  id: u.id,
  sha256: u.sha256,
  size: u.size,
  filename: u.filename,
  kind: u.kind,
  entries: u.entries,
  unpackedSize: u.unpackedSize,
  createdAt: u.createdAt.toISOString(),
});

/** Media types that mean "this body is a tar archive" without `?archive=tar`. */
const archiveTypes = new Set(['application/x-tar', 'application/tar', 'application/gzip', 'application/x-gzip', 'application/x-compressed-tar']);
const mediaType = (header: string | undefined) => (header ?? '').split(';')[0]!.trim().toLowerCase();

// The filename is only kept and shown, but it is stored: no control characters (Postgres refuses NUL outright).
const filenameSchema = z
  .string()
  .max(255)
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')
  .optional()
  .describe('your name for the file; informational only');

export const uploadRoutes: FastifyPluginAsync<{ uploads: UploadService; limitBytes: number }> = async (app, options) => {
  const opts = { ...options, archiveLimits: options.uploads.archiveLimits };
  const r = app.withTypeProvider<ZodTypeProvider>();
  // The body is the file itself, whatever its type: hand the raw stream to the service instead of parsing it.
  r.removeAllContentTypeParsers();
  r.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  r.post(
    '/v1/uploads',
    {
      schema: {
        operationId: 'createUpload',
        summary: 'Upload a binary or a tar archive (the request body is the file)',
        description:
          `Streamed to S3 while hashed; the same bytes twice are one upload. Larger than ${opts.limitBytes} bytes: 413, nothing kept.\n\n` +
          'With `?archive=tar` (or `Content-Type: application/x-tar` / `application/gzip`) the body is a tar archive, gzipped ' +
          'or not, and a build unpacks it into the directory `binaryPath`. Every entry is checked while it streams: an ' +
          'absolute name, a `..` segment, a symlink or hardlink pointing outside the archive, an entry written through a ' +
          'symlink, a device or fifo, or a duplicate name gets 400 naming the entry (`body.entries[i]`). More than ' +
          `${opts.archiveLimits.maxEntries} entries or more than ${opts.archiveLimits.maxUnpackedBytes} bytes unpacked (a tar ` +
          'or gzip bomb): 413. A refused archive leaves nothing behind.',
        tags: ['uploads'],
        consumes: ['application/octet-stream', 'application/x-tar', 'application/gzip'],
        querystring: z.object({
          filename: filenameSchema,
          archive: z.enum(['tar']).optional().describe('`tar`: the body is a tar archive (gzip is detected), unpacked into binaryPath by builds'),
        }),
        body: rawBody('the file'),
        response: { 201: uploadSchema, 400: problemSchema, 401: problemSchema, 413: problemSchema },
      },
    },
    async (req, reply) => {
      const length = req.headers['content-length'];
      const archive = req.query.archive === 'tar' || archiveTypes.has(mediaType(req.headers['content-type']));
      idleClockOnlyForClient(req, req.body as Readable);
      const upload = await opts.uploads.upload({
        project: req.auth.project,
        body: req.body as Readable,
        kind: archive ? 'tar' : 'file',
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

// Streams an uploaded binary to S3 while hashing and counting it; the same bytes twice are one upload.
import { createHash, randomUUID } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import type { BlobStore } from '../core/blob-store.ts';
import type { UploadStore } from '../core/db/upload-store.ts';
import type { UploadRow } from '../core/db/schema/uploads.ts';
import { NotFoundError, PayloadTooLargeError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';

export interface UploadServiceDeps {
  blobs: Pick<BlobStore, 'putStream' | 'delete'>;
  uploads: UploadStore;
  limitBytes: number;
  log: Logger;
}

export interface UploadInput {
  project: string;
  body: Readable;
  /** Content-Length when the client sent one: lets us refuse an oversized body before reading it. */
  declaredLength?: number;
  filename?: string;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createUploadService(deps: UploadServiceDeps) {
  const tooLarge = () => new PayloadTooLargeError(`upload exceeds the limit of ${deps.limitBytes} bytes`);

  return {
    async upload(input: UploadInput): Promise<UploadRow> {
      if (input.declaredLength !== undefined && input.declaredLength > deps.limitBytes) throw tooLarge();
      const key = `uploads/${input.project}/${randomUUID()}`;
      const hash = createHash('sha256');
      let size = 0;
      // Counting in the stream (not trusting Content-Length) catches chunked bodies that grow past the limit.
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length;
          if (size > deps.limitBytes) return done(tooLarge());
          hash.update(chunk);
          done(null, chunk);
        },
      });
      // Not stream.pipeline: on error it would destroy the request and with it the socket the 413 must go out on.
      let streamError: unknown;
      const fail = (err: unknown) => {
        streamError ??= err;
        input.body.unpipe(meter);
        meter.destroy(err as Error);
      };
      meter.on('error', fail);
      input.body.on('error', fail);
      input.body.on('close', () => {
        if (!input.body.readableEnded) fail(new Error('the client went away before the upload ended'));
      });
      input.body.pipe(meter);
      try {
        await deps.blobs.putStream(key, meter);
        if (streamError) throw streamError;
      } catch (err) {
        // Whatever stopped the upload (limit, client gone, S3 error), leave nothing behind.
        await deps.blobs.delete(key).catch((e: unknown) => deps.log.warn({ err: e, key }, 'could not delete a failed upload'));
        throw streamError instanceof PayloadTooLargeError ? streamError : err;
      }

      const { upload, inserted } = await deps.uploads.insertOrGetExisting({
        id: randomUUID(),
        project: input.project,
        sha256: hash.digest('hex'),
        size,
        s3Key: key,
        filename: input.filename ?? null,
      });
      if (!inserted) await deps.blobs.delete(key);
      deps.log.info({ uploadId: upload.id, size, reused: !inserted }, 'upload stored');
      return upload;
    },

    async get(project: string, id: string): Promise<UploadRow> {
      const row = uuidPattern.test(id) ? await deps.uploads.get(project, id) : undefined;
      if (!row) throw new NotFoundError(`no upload "${id}"`);
      return row;
    },

    async list(project: string, opts: { limit: number }): Promise<UploadRow[]> {
      return deps.uploads.list(project, opts);
    },
  };
}

export type UploadService = ReturnType<typeof createUploadService>;

// Streams an upload to S3 while hashing and counting it; the same bytes twice are one upload. An archive upload is
// also inspected entry by entry as it streams (core/tar-archive.ts): refused archives leave nothing behind.
import { createHash, randomUUID } from 'node:crypto';
import { PassThrough, Transform, type Readable } from 'node:stream';
import type { BlobStore } from '../core/blob-store.ts';
import type { UploadStore } from '../core/db/upload-store.ts';
import type { UploadKind, UploadRow } from '../core/db/schema/uploads.ts';
import { NotFoundError, PayloadTooLargeError, ValidationError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { ArchiveRefused, inspectArchive, type ArchiveLimits, type ArchiveSummary } from '../core/tar-archive.ts';
import { isUuid } from './api-schemas.ts';

export interface UploadServiceDeps {
  blobs: Pick<BlobStore, 'putStream' | 'delete'>;
  uploads: UploadStore;
  limitBytes: number;
  /** Default: 100,000 entries, unpacking to at most 4× the upload limit. */
  archiveLimits?: ArchiveLimits;
  log: Logger;
}

export interface UploadInput {
  project: string;
  body: Readable;
  /** Content-Length when the client sent one: lets us refuse an oversized body before reading it. */
  declaredLength?: number;
  filename?: string;
  /** `tar`: the body is a tar archive (gzipped or not), checked while it streams. Default `file`. */
  kind?: UploadKind;
}


/** An archive refusal as the client sees it: 413 for a bomb, 400 naming the entry (or the body) otherwise. */
function refusalError(err: ArchiveRefused): Error {
  if (err.reason === 'limit') return new PayloadTooLargeError(err.message);
  const field = err.entry ? `body.entries[${err.entry.index}]` : 'body';
  return new ValidationError([{ field, message: err.message }]);
}

export function createUploadService(deps: UploadServiceDeps) {
  const tooLarge = () => new PayloadTooLargeError(`upload exceeds the limit of ${deps.limitBytes} bytes`);
  const archiveLimits = deps.archiveLimits ?? { maxEntries: 100_000, maxUnpackedBytes: 4 * deps.limitBytes };

  return {
    archiveLimits,

    async upload(input: UploadInput): Promise<UploadRow> {
      if (input.declaredLength !== undefined && input.declaredLength > deps.limitBytes) throw tooLarge();
      const kind = input.kind ?? 'file';
      const key = `uploads/${input.project}/${randomUUID()}`;
      const hash = createHash('sha256');
      let size = 0;

      // An archive is read a second time, by the inspector, from this pipe; the meter waits for it (backpressure),
      // so a slow inspection slows the upload instead of buffering it.
      const toInspector = kind === 'tar' ? new PassThrough({ highWaterMark: 1024 * 1024 }) : undefined;
      let inspecting = toInspector !== undefined;
      const inspection: Promise<ArchiveSummary | undefined> = toInspector
        ? inspectArchive(toInspector, archiveLimits).finally(() => {
            inspecting = false;
            toInspector.resume(); // unblock a meter waiting for a drain that will never come
          })
        : Promise.resolve(undefined);

      // Counting in the stream (not trusting Content-Length) catches chunked bodies that grow past the limit.
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length;
          if (size > deps.limitBytes) return done(tooLarge());
          hash.update(chunk);
          if (toInspector && inspecting && !toInspector.write(chunk)) toInspector.once('drain', () => done(null, chunk));
          else done(null, chunk);
        },
        flush(done) {
          toInspector?.end();
          done();
        },
      });
      // Not stream.pipeline: on error it would destroy the request and with it the socket the 413 must go out on.
      let streamError: unknown;
      const fail = (err: unknown) => {
        streamError ??= err;
        input.body.unpipe(meter);
        meter.destroy(err as Error);
        toInspector?.destroy();
      };
      meter.on('error', fail);
      input.body.on('error', fail);
      input.body.on('close', () => {
        if (!input.body.readableEnded) fail(new Error('the client went away before the upload ended'));
      });
      // A refused archive stops the upload at once, not when the client has sent the rest.
      inspection.catch((err: unknown) => fail(err instanceof ArchiveRefused ? refusalError(err) : err));
      input.body.pipe(meter);

      let summary: ArchiveSummary | undefined;
      try {
        const [put, inspected] = await Promise.allSettled([deps.blobs.putStream(key, meter), inspection]);
        if (streamError) throw streamError;
        if (put.status === 'rejected') throw put.reason;
        if (inspected.status === 'rejected') throw inspected.reason instanceof ArchiveRefused ? refusalError(inspected.reason) : inspected.reason;
        summary = inspected.value;
      } catch (err) {
        // Whatever stopped the upload (limit, refused archive, client gone, S3 error), leave nothing behind.
        await deps.blobs.delete(key).catch((e: unknown) => deps.log.warn({ err: e, key }, 'could not delete a failed upload'));
        throw err;
      }

      const { upload, inserted } = await deps.uploads.insertOrGetExisting({
        id: randomUUID(),
        project: input.project,
        sha256: hash.digest('hex'),
        size,
        s3Key: key,
        filename: input.filename ?? null,
        kind,
        ...(summary ? { entries: summary.entries, unpackedSize: summary.unpackedBytes } : {}),
      });
      if (!inserted) await deps.blobs.delete(key);
      deps.log.info({ uploadId: upload.id, size, kind, entries: summary?.entries, reused: !inserted }, 'upload stored');
      return upload;
    },

    async get(project: string, id: string): Promise<UploadRow> {
      const row = isUuid(id) ? await deps.uploads.get(project, id) : undefined;
      if (!row) throw new NotFoundError(`no upload "${id}"`);
      return row;
    },

    async list(project: string, opts: { limit: number }): Promise<UploadRow[]> {
      return deps.uploads.list(project, opts);
    },
  };
}

export type UploadService = ReturnType<typeof createUploadService>;

// Uploaded binaries and archives: the bytes live in S3, the row keeps what we proved about them while streaming.
import { bigint, index, integer, pgTable, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';

export const uploadKinds = ['file', 'tar'] as const;
export type UploadKind = (typeof uploadKinds)[number];

export const uploads = pgTable(
  'uploads',
  {
    id: uuid('id').primaryKey(),
    project: text('project').notNull(),
    /** Hex sha256 of the bytes, computed while they streamed to S3. */
    sha256: text('sha256').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    s3Key: text('s3_key').notNull(),
    /** The client's name for the file, informational only: it never reaches a Dockerfile. */
    filename: text('filename'),
    /**
     * `file`: one file, copied to the build's binaryPath. `tar`: an archive (gzipped or not) whose every entry was
     * checked while it streamed; a build unpacks it into the directory binaryPath.
     */
    kind: text('kind', { enum: uploadKinds }).notNull().default('file'),
    /** tar: how many entries it holds, and how many bytes of tar it unpacks to (after gunzip). Null for a file. */
    entries: integer('entries'),
    unpackedSize: bigint('unpacked_size', { mode: 'number' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // The same bytes uploaded twice by one project, as the same kind, are one upload.
    unique('uploads_project_sha256_kind').on(t.project, t.sha256, t.kind),
    index('uploads_created_at').on(t.createdAt),
  ],
);

export type UploadRow = typeof uploads.$inferSelect;

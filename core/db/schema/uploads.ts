// Uploaded binaries: the bytes live in S3, the row keeps what we proved about them while streaming.
import { bigint, index, pgTable, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';

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
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // The same bytes uploaded twice by one project are one upload.
    unique('uploads_project_sha256').on(t.project, t.sha256),
    index('uploads_created_at').on(t.createdAt),
  ],
);

export type UploadRow = typeof uploads.$inferSelect;

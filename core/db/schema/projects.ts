// Projects (the unit of isolation: uploads, builds, logs and webhooks belong to one) and the API tokens that act in them.
import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const projects = pgTable('projects', {
  /** Also the image namespace: images go to REGISTRY_PREFIX/<name>/repository:tag, so it is one registry path part. */
  name: text('name').primaryKey(),
  description: text('description'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const apiTokens = pgTable(
  'api_tokens',
  {
    id: uuid('id').primaryKey(),
    /** The project the token acts in; null for an admin token (manages projects and tokens, may act in any project). */
    project: text('project').references(() => projects.name),
    /** What the token is for, e.g. `ci` or `alice laptop`: shown in listings instead of the token. */
    name: text('name').notNull(),
    /** Hex sha256 of the token; the token itself is shown once, at creation, and stored nowhere. */
    tokenHash: text('token_hash').notNull().unique(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** Set once: a revoked token never authenticates again. */
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [index('api_tokens_project').on(t.project)],
);

export type ProjectRow = typeof projects.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;

// Saved build definitions a push webhook triggers, and the Idempotency-Key record that makes a retried request one build.
import { jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { BuildSpec } from '../../build-types.ts';
import { builds } from './builds.ts';
import { projects } from './projects.ts';

/**
 * A build spec without its image: a webhook names the repository, and each delivery's commit id becomes the tag (and
 * its revision). Webhook builds are always `ci` (rows saved before that rule may hold `interactive`, which is not obeyed).
 */
export type BuildDefinition = Omit<BuildSpec, 'image' | 'revision' | 'priority'> & { repository: string; priority?: 'ci' };

export const webhooks = pgTable('webhooks', {
  /** Also the unguessable part of the delivery URL. */
  id: uuid('id').primaryKey(),
  project: text('project')
    .notNull()
    .references(() => projects.name),
  name: text('name').notNull(),
  definition: jsonb('definition').$type<BuildDefinition>().notNull(),
  /**
   * HMAC-SHA256 key the sender signs deliveries with (X-Hub-Signature-256). Kept as given, unlike API tokens: checking
   * an HMAC needs the key itself, not a hash of it.
   */
  secret: text('secret').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    project: text('project').notNull(),
    /** The client's Idempotency-Key header (webhooks use `webhook:<id>:<commit>`). */
    key: text('key').notNull(),
    /** Hex sha256 of the request body in canonical form: the same key with another body is a conflict. */
    requestHash: text('request_hash').notNull(),
    buildId: uuid('build_id')
      .notNull()
      .references(() => builds.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.project, t.key] })],
);

export type WebhookRow = typeof webhooks.$inferSelect;
export type IdempotencyKeyRow = typeof idempotencyKeys.$inferSelect;

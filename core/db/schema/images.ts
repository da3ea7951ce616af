// The image catalog: every image kiln pushed for a project, with what it is made of, so that "which images hold
// openssl@3", "what did this binary end up in" and retention are answered here, not by the registry's own list API.
import { index, integer, jsonb, pgTable, real, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { builds } from './builds.ts';
import { projects } from './projects.ts';

/**
 * `current`: its tag points at it. `superseded`: a later push of kiln moved its tag to another image (the manifest is
 * still in the registry, by digest). `deleted`: its manifest was deleted (by a user, or by the retention rule).
 */
export const imageStatuses = ['current', 'superseded', 'deleted'] as const;
export type ImageStatus = (typeof imageStatuses)[number];

export const images = pgTable(
  'images',
  {
    id: uuid('id').primaryKey(),
    project: text('project').notNull(),
    buildId: uuid('build_id')
      .notNull()
      .references(() => builds.id, { onDelete: 'cascade' }),
    /** The repository as the user named it (`team/app`), below REGISTRY_PREFIX/<project>/. */
    repository: text('repository').notNull(),
    tag: text('tag').notNull(),
    digest: text('digest').notNull(),
    /** Full reference: REGISTRY_HOST/REGISTRY_PREFIX/<project>/<repository>:<tag>. */
    imageRef: text('image_ref').notNull(),
    /** `name@version` of each component, in install order; `componentNames` the names alone (filters by name). */
    components: text('components').array().notNull(),
    componentNames: text('component_names').array().notNull(),
    /** The template the image was built FROM, if any. */
    templateId: uuid('template_id'),
    /** Hex sha256 of the uploaded binary (or archive) it holds. */
    uploadSha256: text('upload_sha256').notNull(),
    status: text('status', { enum: imageStatuses }).notNull().default('current'),
    /** Millisecond precision (set by kiln, not by now()): the list's page cursor compares it exactly. */
    pushedAt: timestamp('pushed_at', { withTimezone: true }).notNull(),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    /** `user` (DELETE /v1/images/:id) or `retention`. */
    deletedBy: text('deleted_by'),
  },
  (t) => [
    index('images_project_pushed_at').on(t.project, t.pushedAt, t.id),
    index('images_project_repository_tag').on(t.project, t.repository, t.tag),
    index('images_upload_sha256').on(t.uploadSha256),
  ],
);

/** A project's retention rule: a tag is kept while it is among its repository's newest N, or younger than D days. */
export const retentionRules = pgTable('retention_rules', {
  project: text('project')
    .primaryKey()
    .references(() => projects.name),
  keepNewest: integer('keep_newest'),
  keepDays: real('keep_days'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  lastRunAt: timestamp('last_run_at', { withTimezone: true }),
  /** What the last run deleted and kept back (and why). */
  lastResult: jsonb('last_result').$type<unknown>(),
});

export type ImageRow = typeof images.$inferSelect;
export type RetentionRuleRow = typeof retentionRules.$inferSelect;

// Templates (prebuilt base images of frequent, expensive component sets) and the analyzer runs that decide them.
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, real, text, timestamp, uuid, type AnyPgColumn } from 'drizzle-orm/pg-core';
import type { PlannedComponent } from '../../build-types.ts';

/** `canceled`: an admin stopped its build; a later analysis builds it again if it is still worth it. */
export const templateStatuses = ['building', 'ready', 'stale', 'retired', 'failed', 'canceled'] as const;
export type TemplateStatus = (typeof templateStatuses)[number];

export const templates = pgTable(
  'templates',
  {
    id: uuid('id').primaryKey(),
    root: text('root').notNull(),
    /** Canonical key of the component set, e.g. `gcc@12+cuda@11.8` (canonical order, joined by +). */
    componentKey: text('component_key').notNull(),
    /** The components with the recipe hashes the template was built from, in canonical order. */
    components: jsonb('components').$type<PlannedComponent[]>().notNull(),
    /** A smaller template this one was built FROM (nested templates reuse each other). */
    parentId: uuid('parent_id').references((): AnyPgColumn => templates.id),
    imageRef: text('image_ref').notNull(),
    digest: text('digest'),
    sizeBytes: bigint('size_bytes', { mode: 'number' }),
    status: text('status', { enum: templateStatuses }).notNull().default('building'),
    /** Wall time the template build took. */
    buildSeconds: real('build_seconds'),
    hits: integer('hits').notNull().default(0),
    /** Install seconds builds did not spend because they started FROM this template (from component costs). */
    secondsSaved: real('seconds_saved').notNull().default(0),
    /** Of secondsSaved, the part priced by catalog estimates (components never measured installing here). */
    secondsSavedEstimated: real('seconds_saved_estimated').notNull().default(0),
    lastHitAt: timestamp('last_hit_at', { withTimezone: true }),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    readyAt: timestamp('ready_at', { withTimezone: true }),
    /** When it stopped being chosen; its image is deleted from the registry after a grace period. */
    retiredAt: timestamp('retired_at', { withTimezone: true }),
    imageDeletedAt: timestamp('image_deleted_at', { withTimezone: true }),
  },
  (t) => [index('templates_status').on(t.status), index('templates_root_key').on(t.root, t.componentKey)],
);

/** A template build's steps: its uncached installs are measurements of what components cost, like a build's. */
export const templateSteps = pgTable(
  'template_steps',
  {
    templateId: uuid('template_id')
      .notNull()
      .references(() => templates.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    /** `name@version` of the component. */
    component: text('component').notNull(),
    recipeHash: text('recipe_hash'),
    /** Wall time the engine spent on this component's instructions. */
    seconds: real('seconds').notNull(),
    /** True when every instruction of the step came from the engine's layer cache (then it measures nothing). */
    cached: boolean('cached').notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.templateId, t.position] }), index('template_steps_component').on(t.component)],
);

export const analyzerRuns = pgTable('analyzer_runs', {
  id: uuid('id').primaryKey(),
  /** `schedule` or `manual`. */
  trigger: text('trigger').notNull(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
  /** What was decided and why: chosen sets with their scores, templates built, kept, rebuilt, retired. */
  decisions: jsonb('decisions').$type<unknown>(),
  summary: text('summary'),
});

export type TemplateRow = typeof templates.$inferSelect;
export type AnalyzerRunRow = typeof analyzerRuns.$inferSelect;

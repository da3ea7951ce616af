// Builds and their steps: the record users read and the raw material the analyzer mines.
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, real, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { BuildSpec, BuildPlan } from '../../build-types.ts';
import type { SubmitEstimate } from '../../eta/estimate-types.ts';

export const buildStatuses = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export const stepKinds = ['install', 'cache', 'layer', 'verify', 'assemble', 'pull', 'push'] as const;
export type StepKind = (typeof stepKinds)[number];
export type BuildStatus = (typeof buildStatuses)[number];

export const builds = pgTable(
  'builds',
  {
    id: uuid('id').primaryKey(),
    project: text('project').notNull(),
    /** The request as the user asked it (components unresolved, names as typed). */
    spec: jsonb('spec').$type<BuildSpec>().notNull(),
    /** The request as resolved: canonical component order with recipe hashes, base image, image ref. */
    plan: jsonb('plan').$type<BuildPlan>().notNull(),
    status: text('status', { enum: buildStatuses }).notNull().default('queued'),
    /** Why a build failed, in words a user can act on. */
    error: text('error'),
    imageRef: text('image_ref').notNull(),
    /** Manifest digest the registry answered on push. */
    digest: text('digest'),
    /** Engine image id (sha256:…) of the built image. */
    imageId: text('image_id'),
    attempts: integer('attempts').notNull().default(0),
    /** The template the build started FROM, if any. */
    templateId: uuid('template_id'),
    /** Install seconds the template spared this build (from component costs when the build was planned). */
    secondsSaved: real('seconds_saved'),
    /**
     * Of secondsSaved, the part priced by the catalog's estimate: components with no measured uncached install on
     * this installation yet. Reports show it apart, as an estimate.
     */
    secondsSavedEstimated: real('seconds_saved_estimated'),
    /**
     * Install seconds the engine's layer cache spared it: its cached steps, priced at the components' install costs
     * when it finished (minus the seconds the cached steps still took); of which the part priced by catalog estimates.
     */
    secondsSavedCache: real('seconds_saved_cache'),
    secondsSavedCacheEstimated: real('seconds_saved_cache_estimated'),
    /** What kiln told the user when the build was submitted (route, seconds and range): accuracy can be checked later. */
    estimate: jsonb('estimate').$type<SubmitEstimate>(),
    queuedAt: timestamp('queued_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('builds_project_queued_at').on(t.project, t.queuedAt), index('builds_status').on(t.status)],
);

export const buildSteps = pgTable(
  'build_steps',
  {
    buildId: uuid('build_id')
      .notNull()
      .references(() => builds.id, { onDelete: 'cascade' }),
    /** Position in the plan, 0-based. */
    position: integer('position').notNull(),
    /** `name@version` of a component, `binary` (the user's file and settings), `verify`, `pull` or `push`. */
    component: text('component').notNull(),
    /** Recipe hash of the component when the step ran (null for `binary`). */
    recipeHash: text('recipe_hash'),
    /** Wall time the engine spent on this component's instructions. */
    seconds: real('seconds').notNull(),
    /** True when every instruction of the step came from the engine's layer cache (or a prebuilt layer). */
    cached: boolean('cached').notNull(),
    /**
     * How the step was done: `install` (ran), `cache` (the engine's layer cache), `layer` (a prebuilt component layer
     * assembled in the registry), `verify` (a new combination proven), `assemble` (binary layer, config, manifest).
     * `pull` (a template or root fetched from the registry first), `push` (the image sent to the registry).
     * Null for steps recorded before composition.
     */
    kind: text('kind', { enum: stepKinds }),
    /**
     * Bytes the step moved or made: a step's layer (uncompressed) for install, cache and assemble; bytes uploaded
     * for push (layers the registry already had are not counted); the image pulled for pull. Null when unknown.
     */
    bytes: bigint('bytes', { mode: 'number' }),
  },
  (t) => [primaryKey({ columns: [t.buildId, t.position] }), index('build_steps_component').on(t.component)],
);

export type BuildRow = typeof builds.$inferSelect;
export type BuildStepRow = typeof buildSteps.$inferSelect;

// Composition's records: each component version installed once as a normalized layer in the registry, the roots those
// layers stand on, and each combination of layers proven (or refused) as a whole image.
import { bigint, index, integer, jsonb, pgTable, real, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

/** A root image as composition knows it: its layers and where its file index lives. Keyed by image id. */
export const compositionRoots = pgTable('composition_roots', {
  /** Engine image id (sha256 of its config): the same id on every host that pulled the published root. */
  imageId: text('image_id').primaryKey(),
  root: text('root').notNull(),
  diffIds: jsonb('diff_ids').$type<string[]>().notNull(),
  /** Bytes of each layer's tar, by diffID (tells the root's layers apart in a `docker save` stream). */
  layerSizes: jsonb('layer_sizes').$type<Record<string, number>>().notNull(),
  /** S3 key of its file index and shared state (see core/composition/layer-record.ts). */
  indexKey: text('index_key').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export interface CompositionLayer {
  componentKey: string;
  layerId: string;
  digest: string;
  diffId: string;
  size: number;
}

/**
 * `stale`: interrupted (built again by the next one who needs it), or of a recipe the catalog no longer has (then its
 * manifest is deleted after KILN_TEMPLATE_GRACE_SECONDS, and it becomes `deleted`).
 */
export const layerStatuses = ['building', 'ready', 'failed', 'stale', 'deleted'] as const;
export type LayerStatus = (typeof layerStatuses)[number];

export const componentLayers = pgTable(
  'component_layers',
  {
    id: uuid('id').primaryKey(),
    root: text('root').notNull(),
    /** The root image (id) the layer was built on. */
    rootImageId: text('root_image_id').notNull(),
    /** `name@version` */
    componentKey: text('component_key').notNull(),
    recipeHash: text('recipe_hash').notNull(),
    /** '' when built on the root alone; else the key of the composition (of what it requires) it was built on. */
    baseKey: text('base_key').notNull().default(''),
    /** The layers of what it requires, in install order: the composition it is built on. */
    baseLayers: jsonb('base_layers').$type<CompositionLayer[]>().notNull().default([]),
    status: text('status', { enum: layerStatuses }).notNull().default('building'),
    /** Registry repository holding the blob (and a small manifest that keeps it from garbage collection). */
    repository: text('repository').notNull(),
    /** gzip blob digest and size; diffID = sha256 of the uncompressed (normalized) tar. */
    digest: text('digest'),
    diffId: text('diff_id'),
    sizeBytes: bigint('size_bytes', { mode: 'number' }),
    unpackedBytes: bigint('unpacked_bytes', { mode: 'number' }),
    /** S3 key of its file index and shared state files. */
    indexKey: text('index_key'),
    /** Shared state paths it writes (dpkg and apt databases, debconf, alternatives, ld.so.cache…). */
    sharedPaths: jsonb('shared_paths').$type<string[]>(),
    /** Paths it deletes from its base, and base directories whose content it hides: a combination with them is suspect. */
    whiteouts: jsonb('whiteouts').$type<string[]>(),
    opaqueDirs: jsonb('opaque_dirs').$type<string[]>(),
    /** Opaque markers dropped: directories the layer created (they hide nothing below). */
    droppedMarkers: integer('dropped_markers'),
    buildSeconds: real('build_seconds'),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** When a builder last claimed its building. */
    claimedAt: timestamp('claimed_at', { withTimezone: true }).notNull().defaultNow(),
    /** Which claim holds it while `building` (a builder writes its result only while its token is here). */
    leaseToken: text('lease_token'),
    /** Until when that claim stands unless renewed (see core/claim-lease.ts): past it, another builder takes it over. */
    leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }).notNull().defaultNow(),
    readyAt: timestamp('ready_at', { withTimezone: true }),
    /** When an analysis found its recipe gone from the catalog. */
    retiredAt: timestamp('retired_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('component_layers_identity').on(t.rootImageId, t.componentKey, t.recipeHash, t.baseKey),
    index('component_layers_status').on(t.status),
  ],
);

export const compositionStatuses = ['verifying', 'verified', 'failed', 'conflict'] as const;
export type CompositionStatus = (typeof compositionStatuses)[number];

export const compositions = pgTable(
  'compositions',
  {
    /** sha256 over the root's and the component layers' diffIDs, in order: the same layers are the same combination. */
    key: text('key').primaryKey(),
    root: text('root').notNull(),
    rootImageId: text('root_image_id').notNull(),
    /** Canonical `name@version+…` of its components, for people and for the analyzer. */
    componentKey: text('component_key').notNull(),
    layers: jsonb('layers').$type<CompositionLayer[]>().notNull(),
    status: text('status', { enum: compositionStatuses }).notNull().default('verifying'),
    mergeDigest: text('merge_digest'),
    mergeDiffId: text('merge_diff_id'),
    mergeSize: bigint('merge_size', { mode: 'number' }),
    mergeUnpackedBytes: bigint('merge_unpacked_bytes', { mode: 'number' }),
    /** The verified image without a binary (root + layers + merge layer), pushed under kiln-compositions/. */
    imageRef: text('image_ref'),
    imageDigest: text('image_digest'),
    /** What makes it not composable: paths two layers disagree on, or a smoke test that failed. */
    conflicts: jsonb('conflicts').$type<string[]>(),
    error: text('error'),
    verifySeconds: real('verify_seconds'),
    /** Builds composed from it. */
    hits: integer('hits').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** When a builder claimed its verification. */
    claimedAt: timestamp('claimed_at', { withTimezone: true }).notNull().defaultNow(),
    /** Which claim holds it while `verifying` (a builder writes its verdict only while its token is here). */
    leaseToken: text('lease_token'),
    /** Until when that claim stands unless renewed (see core/claim-lease.ts): past it, another builder takes it over. */
    leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }).notNull().defaultNow(),
    verifiedAt: timestamp('verified_at', { withTimezone: true }),
  },
  (t) => [index('compositions_status').on(t.status), index('compositions_component_key').on(t.root, t.componentKey)],
);

export type CompositionRootRow = typeof compositionRoots.$inferSelect;
export type ComponentLayerRow = typeof componentLayers.$inferSelect;
export type CompositionRow = typeof compositions.$inferSelect;

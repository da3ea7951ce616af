// The shape of catalog data files under base-images/: roots, components and their versions.
import { z } from 'zod';

const name = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'lowercase letters, digits and dashes, starting with a letter');
const version = z.string().regex(/^[0-9A-Za-z][0-9A-Za-z.+-]{0,39}$/, 'letters, digits, dots, plus and dashes');
const debPackage = z.string().regex(/^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?$/, 'a Debian package name (optionally =version)');
const envKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
// Catalog env values may refer to other variables ($PATH) on purpose, but must stay on one line.
const envValue = z.string().regex(/^[^\n\r"\\]*$/, 'one line without quotes or backslashes');

export const rootFileSchema = z.strictObject({
  name,
  description: z.string().min(1),
  /** Image to pull where a registry answers. */
  pull: z.string().min(1).optional(),
  /** How to make it where nothing can be pulled. */
  debootstrap: z.strictObject({
    suite: z.string().regex(/^[a-z]+$/),
    variant: z.enum(['minbase', 'buildd']).default('minbase'),
    components: z.array(z.string().regex(/^[a-z-]+$/)).min(1).default(['main']),
  }),
});

export const componentFileSchema = z.strictObject({
  name,
  description: z.string().min(1),
  /**
   * Place in the canonical install order (lower installs first). See core/catalog/canonical-order.ts for why.
   */
  rank: z.number().int().min(0).max(1000),
  /** The version `name` alone resolves to. */
  default: version,
});

export const installSchema = z.union([
  z.strictObject({ packages: z.array(debPackage).min(1) }),
  z.strictObject({ script: z.string().min(1) }),
]);

export const constraintSchema = z.strictObject({
  component: name,
  /** Space-separated comparators, e.g. ">=11 <13"; absent means any version. */
  versions: z.string().regex(/^\s*((>=|<=|>|<|=)?[0-9][0-9.]*\s*)+$/, 'comparators like ">=11 <13"').optional(),
  reason: z.string().optional(),
});

export const versionFileSchema = z.strictObject({
  name,
  version,
  description: z.string().min(1).optional(),
  roots: z.array(name).min(1),
  install: installSchema,
  env: z.record(envKey, envValue).default({}),
  /** Shell script run inside an image that has this component; exit 0 proves it works. */
  smoke: z.string().min(1),
  requires: z.array(constraintSchema).default([]),
  conflicts: z.array(constraintSchema).default([]),
  /** What installing it costs until real timings exist, in seconds, on a real network. */
  costEstimateSeconds: z.number().positive(),
  /**
   * false: never assembled from a prebuilt layer (e.g. its install depends on what else the image holds, or it
   * writes state the merge layer cannot reconcile); builds with it install it (FROM a template or the root).
   */
  composable: z.boolean().default(true),
});

export type RootFile = z.infer<typeof rootFileSchema>;
export type ComponentFile = z.infer<typeof componentFileSchema>;
export type VersionFile = z.infer<typeof versionFileSchema>;
export type Constraint = z.infer<typeof constraintSchema>;

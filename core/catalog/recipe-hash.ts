// A recipe's content hash: it changes exactly when what a component installs (or the environment it sets) changes,
// which is how templates built from an older recipe are known to be stale.
import { createHash } from 'node:crypto';
import type { VersionFile } from './catalog-schema.ts';

/** JSON with object keys sorted, so that formatting and key order in the YAML do not change the hash. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Hashes name, version, install steps and env. The smoke test, description, cost estimate and constraints are left
 * out on purpose: changing them does not change a single byte of the installed layer.
 */
export function recipeHash(v: Pick<VersionFile, 'name' | 'version' | 'install' | 'env'>): string {
  const material = canonicalJson({ name: v.name, version: v.version, install: v.install, env: v.env });
  return `sha256:${createHash('sha256').update(material).digest('hex')}`;
}

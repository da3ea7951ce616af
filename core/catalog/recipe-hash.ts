// A recipe's content hash: it changes exactly when what a component installs (or the environment it sets) changes,
// which is how templates built from an older recipe are known to be stale.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical-json.ts';
import type { VersionFile } from './catalog-schema.ts';

/**
 * Hashes name, version, install steps and env. The smoke test, description, cost estimate and constraints are left
 * out on purpose: changing them does not change a single byte of the installed layer.
 */
export function recipeHash(v: Pick<VersionFile, 'name' | 'version' | 'install' | 'env'>): string {
  const material = canonicalJson({ name: v.name, version: v.version, install: v.install, env: v.env });
  return `sha256:${createHash('sha256').update(material).digest('hex')}`;
}

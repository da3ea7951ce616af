// The loaded catalog as the rest of kiln sees it: roots, components, versions with their recipe hashes.
import type { ComponentFile, RootFile, VersionFile } from './catalog-schema.ts';

export type CatalogRoot = RootFile & { file: string };

export type ComponentVersion = VersionFile & {
  /** `name@version` */
  key: string;
  /** Content hash of everything that shapes the installed result; see recipe-hash.ts. */
  recipeHash: string;
  file: string;
};

export type Component = ComponentFile & {
  file: string;
  versions: Map<string, ComponentVersion>;
};

export interface Catalog {
  roots: Map<string, CatalogRoot>;
  components: Map<string, Component>;
}

export class CatalogError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid catalog:\n  - ${problems.join('\n  - ')}`);
    this.name = 'CatalogError';
  }
}

/** Compares dotted numeric versions ("11.8" < "12"); non-numeric parts compare as strings. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/);
  const pb = b.split(/[.+-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isFinite(nx) && Number.isFinite(ny) ? nx - ny : x.localeCompare(y);
    if (c !== 0) return Math.sign(c);
  }
  return 0;
}

/** True when `version` satisfies every comparator in `range` (">=11 <13"); an absent range allows all. */
export function satisfies(version: string, range: string | undefined): boolean {
  if (!range) return true;
  return range
    .trim()
    .split(/\s+/)
    .every((cmp) => {
      const m = /^(>=|<=|>|<|=)?(.+)$/.exec(cmp);
      if (!m) return false;
      const c = compareVersions(version, m[2]!);
      switch (m[1]) {
        case '>=': return c >= 0;
        case '<=': return c <= 0;
        case '>': return c > 0;
        case '<': return c < 0;
        default: return c === 0 || version.startsWith(`${m[2]}.`);
      }
    });
}

/** Every version's recipe hash now, by `name@version`. */
export function currentRecipeHashes(catalog: Catalog): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const c of catalog.components.values()) for (const v of c.versions.values()) hashes.set(v.key, v.recipeHash);
  return hashes;
}

/**
 * The keys among `components` whose recipe hash is not the one `current` gives (changed, or gone): empty when every
 * one is current. The one test of "built from these recipes" — templates against the catalog, a template against
 * what a build resolved, a plan against the catalog when it runs.
 */
export function changedRecipes(components: readonly { key: string; recipeHash: string }[], current: ReadonlyMap<string, string>): string[] {
  return components.filter((c) => current.get(c.key) !== c.recipeHash).map((c) => c.key);
}

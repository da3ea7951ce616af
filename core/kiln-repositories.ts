// The registry repositories kiln pushes its own images to, under REGISTRY_PREFIX beside every project's namespace
// (REGISTRY_PREFIX/<project>/…). Every pusher names its repository through `kilnRepository`, and project names are
// checked against the same list, so an internal repository added here is reserved by that very line.

/** What each of kiln's own repositories holds, by its path component under REGISTRY_PREFIX. */
export const KILN_REPOSITORIES = {
  /** Roots as builders publish them (kiln-roots/<root>:current), for builders whose engines lack them. */
  roots: 'kiln-roots',
  /** Template images the analyzer had built: later builds start FROM them. */
  templates: 'kiln-templates',
  /** One prebuilt layer per component version: composed builds are assembled from them. */
  layers: 'kiln-layers',
  /** Verified combinations (root + layers + merge layer), without a binary. */
  compositions: 'kiln-compositions',
} as const;

export type KilnRepositoryKind = keyof typeof KILN_REPOSITORIES;

/** `<prefix>/<kiln's repository of that kind>/<root>`, e.g. kiln/kiln-layers/debian-bookworm. */
export const kilnRepository = (prefix: string, kind: KilnRepositoryKind, root: string): string => `${prefix}/${KILN_REPOSITORIES[kind]}/${root}`;

/** The names project namespaces may not take. */
export const RESERVED_NAMES: readonly string[] = Object.values(KILN_REPOSITORIES);

/**
 * Whether a project's namespace (REGISTRY_PREFIX/<project>/) is one of kiln's own repositories: a project of that name
 * (made before the names were reserved) may neither push there nor delete there.
 */
export const isKilnNamespace = (project: string): boolean => RESERVED_NAMES.includes(project);

/**
 * A name with case and separators folded away: `Kiln_Layers`, `kiln.layers` and `kiln--layers` all read `kilnlayers`.
 * Names that differ only in these look alike to a person reading a registry, so they are held to be one name.
 */
const folded = (name: string) => name.toLowerCase().replace(/[._-]+/g, '');

const reservedFolded = new Map(RESERVED_NAMES.map((n) => [folded(n), n]));

/** The reserved name `name` stands for (case- and separator-insensitively), or undefined when it is free. */
export function reservedNameOf(name: string): string | undefined {
  return reservedFolded.get(folded(name));
}

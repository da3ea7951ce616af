// The two JSON documents that make a composed image: its config (the root's, with the components' environment, the
// user's environment, entrypoint and cmd, labels, and one history entry per layer) and its manifest (the layers as
// blobs). Written the way the engine would have written them for the same Dockerfile. Pure.

export const MEDIA = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
} as const;

/** What the engine's builder puts in an image that sets no PATH (a `docker import`ed root). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** One layer as composition stacks it: its blob, what it holds uncompressed (diffID), and what put it there. */
export interface ComposedLayer extends Descriptor {
  diffId: string;
  /** History line, e.g. `kiln: component jdk@17 (sha256:…)`. */
  createdBy: string;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  created?: string;
  config?: {
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
    [k: string]: unknown;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[];
  [k: string]: unknown;
}

/**
 * Expands `$VAR`, `${VAR}`, `${VAR:-word}` and `${VAR:+word}` the way a Dockerfile's ENV does, against the
 * environment so far (unset is empty). Catalog values only: a user's env values are literal.
 */
export function expandEnv(value: string, env: ReadonlyMap<string, string>): string {
  return value.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, braced, op, word, bare) => {
    const name = (braced ?? bare) as string;
    const v = env.get(name);
    if (op === '-') return v ? v : (word as string);
    if (op === '+') return v ? (word as string) : '';
    return v ?? '';
  });
}

const envMap = (list: readonly string[] | null | undefined) => new Map((list ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));

/**
 * The environment of root + components (in install order, each expanded against what came before) + the user's
 * (literal). The order of first appearance is kept, as the engine keeps it.
 */
export function composeEnv(rootEnv: readonly string[] | null | undefined, components: readonly Record<string, string>[], user: Record<string, string>): string[] {
  const env = envMap(rootEnv);
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  for (const c of components) for (const [k, v] of Object.entries(c)) env.set(k, expandEnv(v, env));
  for (const [k, v] of Object.entries(user)) env.set(k, v);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

export interface ComposeConfigInput {
  root: ImageConfig;
  layers: readonly ComposedLayer[];
  env: string[];
  /** Absent: the root's. Setting an entrypoint drops the root's cmd, as a Dockerfile ENTRYPOINT does. */
  entrypoint?: string[];
  cmd?: string[];
  labels: Record<string, string>;
  created: string;
}

export function composeConfig(input: ComposeConfigInput): ImageConfig {
  const base = input.root.config ?? {};
  const entrypointSet = input.entrypoint !== undefined;
  return {
    ...input.root,
    architecture: input.root.architecture ?? 'amd64',
    os: input.root.os ?? 'linux',
    created: input.created,
    config: {
      ...base,
      Env: input.env,
      Entrypoint: entrypointSet ? input.entrypoint! : (base.Entrypoint ?? null),
      Cmd: input.cmd ?? (entrypointSet ? null : (base.Cmd ?? null)),
      Labels: { ...(base.Labels ?? {}), ...input.labels },
    },
    rootfs: { type: 'layers', diff_ids: [...input.root.rootfs.diff_ids, ...input.layers.map((l) => l.diffId)] },
    history: [...(input.root.history ?? []), ...input.layers.map((l) => ({ created: input.created, created_by: l.createdBy }))],
  };
}

export function composeManifest(config: Descriptor, layers: readonly Descriptor[]): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: { mediaType: config.mediaType, size: config.size, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
  });
}

// A builder makes sure every catalog root can be had before it takes builds, so that a deployment needs no hand-made
// `kiln-root:<root>` (npm start makes them with debootstrap; a builder in a container cannot). A root missing from its
// engine is fine when another builder has published it to the registry (kiln-roots/<root>:current): a build that
// installs FROM it pulls that very image by digest when it needs it (docker-engine.ts, ensureBaseImage), and a
// composed build needs no root on the engine at all — so that stays as it is. Only a root that is nowhere yet (a new
// deployment's first builder) is pulled now, from the catalog's `pull` reference (debian:bookworm-slim), through
// KILN_ROOT_PULL_MIRROR when set; this builder then publishes it for the others. When that pull fails the builder
// still starts (composed builds need no root) and its /readyz names the root.
import type Docker from 'dockerode';
import type { Logger } from '../core/logger.ts';
import type { RegistryAuth } from '../core/registry-client.ts';
import { CURRENT_ROOT_TAG, hasImage, pullAs, rootRepository, type PublishedRoots } from './docker-engine.ts';

export interface RootToProvision {
  root: string;
  /** The local name builds use: KILN_ROOT_IMAGE_PREFIX:root. */
  image: string;
  /** The catalog's `pull` reference, if any. */
  pull?: string;
}

/** On the engine already; in the registry (pulled when a build needs it); pulled now; or nowhere. */
export type RootSource = 'present' | 'published' | 'pulled' | 'missing';

export interface ProvisionedRoot {
  root: string;
  image: string;
  source: RootSource;
  /** Where it is (published), what was pulled (pulled), or why it is missing. */
  detail?: string;
}

/** The registry host a reference names (`docker.io` for Docker Hub's short names). */
export function registryOf(ref: string): string {
  const first = ref.split('/')[0]!;
  return ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

/**
 * `ref` as a pull-through mirror of Docker Hub serves it: `debian:bookworm-slim` → `<mirror>/library/debian:bookworm-slim`
 * (what dockerd's own registry-mirrors and Harbor's proxy-cache projects expect). References to other registries are
 * not Docker Hub's, and are left alone.
 */
export function mirroredReference(ref: string, mirror: string | undefined): string {
  if (!mirror || registryOf(ref) !== 'docker.io') return ref;
  const path = ref.replace(/^(docker\.io|index\.docker\.io)\//, '');
  return `${mirror.replace(/\/+$/, '')}/${path.includes('/') ? path : `library/${path}`}`;
}

export interface ProvisionDeps {
  docker: Docker;
  /** kiln's registry: its published roots, and the credentials the engine uses there. */
  registry: { auth: RegistryAuth; roots: Pick<PublishedRoots, 'host' | 'prefix' | 'registry'> };
  mirror?: string;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
}

async function provisionOne(deps: ProvisionDeps, want: RootToProvision): Promise<ProvisionedRoot> {
  const { docker, registry } = deps;
  if (await hasImage(docker, want.image)) return { root: want.root, image: want.image, source: 'present' };
  const tried: string[] = [];
  const repository = rootRepository(registry.roots.prefix, want.root);
  try {
    const digest = await registry.roots.registry.manifestDigest(repository, CURRENT_ROOT_TAG);
    if (digest) return { root: want.root, image: want.image, source: 'published', detail: `${registry.roots.host}/${repository}@${digest}` };
    tried.push(`no builder has published it as ${registry.roots.host}/${repository}:${CURRENT_ROOT_TAG}`);
  } catch (err) {
    tried.push(`${registry.roots.host}/${repository}:${CURRENT_ROOT_TAG}: ${(err as Error).message}`);
  }
  if (want.pull) {
    const ref = mirroredReference(want.pull, deps.mirror);
    const host = registryOf(ref);
    // kiln's credentials go only to kiln's registry; any other registry is asked anonymously.
    const auth: RegistryAuth = host === registry.auth.serveraddress ? registry.auth : { serveraddress: host };
    try {
      await pullAs(docker, ref, want.image, auth);
      return { root: want.root, image: want.image, source: 'pulled', detail: ref };
    } catch (err) {
      tried.push(`pulling ${ref}: ${(err as Error).message}`);
    }
  } else {
    tried.push('the catalog gives no `pull` reference for it');
  }
  return { root: want.root, image: want.image, source: 'missing', detail: tried.join('; ') };
}

/** Each root in turn (a root is a hundred MB or more: one pull at a time). Never throws for a root it cannot get. */
export async function provisionRoots(deps: ProvisionDeps, roots: RootToProvision[]): Promise<ProvisionedRoot[]> {
  const out: ProvisionedRoot[] = [];
  for (const want of roots) {
    const t0 = Date.now();
    const got = await provisionOne(deps, want);
    const fields = { root: got.root, image: got.image, source: got.source, detail: got.detail, ms: Date.now() - t0 };
    if (got.source === 'missing') deps.log.error(fields, 'root image is not on this engine and could not be pulled: builds that install from it fail');
    else if (got.source === 'pulled') deps.log.info(fields, 'root image pulled onto this engine');
    else if (got.source === 'published') deps.log.info(fields, 'root image not on this engine: a build that installs from it will pull it from the registry');
    out.push(got);
  }
  return out;
}

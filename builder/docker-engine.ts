// The engine calls a build needs, with every stream scanned: dockerode reports build and push errors as events inside
// a successful HTTP response, never as a rejected promise.
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { ImagePushOptions } from 'dockerode';
import { BuildFailure, isTransient } from './build-errors.ts';
import type { ImageBase } from '../core/image-labels.ts';
import { kilnRepository } from '../core/kiln-repositories.ts';
import type { Logger } from '../core/logger.ts';
import type { RegistryAuth, RegistryClient } from '../core/registry-client.ts';
import type { EngineEvent } from './build-progress.ts';


function follow(docker: Docker, stream: NodeJS.ReadableStream, onEvent: (ev: EngineEvent) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()), onEvent);
  });
}

const engineUnavailable = (err: unknown) =>
  new BuildFailure(`Docker engine unreachable: ${(err as Error).message}`, true, { cause: err });

/**
 * What the engine's registry error means and whether a retry can help: a certificate the engine does not trust, or
 * credentials the registry refuses, fail the same way every time; a registry that is away may come back.
 */
export function registryFailure(what: string, error: string, auth: RegistryAuth, otherwise: 'retry' | 'by-message' = 'by-message'): BuildFailure {
  const host = auth.serveraddress;
  if (/x509|certificate signed by unknown authority|certificate is not (valid|trusted)|tls: failed to verify/i.test(error)) {
    return new BuildFailure(
      `${what}: ${error} — the Docker engine does not trust the registry's certificate: put the CA (REGISTRY_CA_FILE) at /etc/docker/certs.d/${host}/ca.crt on the engine's host`,
      false,
    );
  }
  if (/unauthorized|authentication required|no basic auth credentials|incorrect username or password|denied/i.test(error)) {
    const who = auth.username !== undefined ? `the credentials of "${auth.username}" (REGISTRY_USERNAME / REGISTRY_PASSWORD)` : 'no credentials (REGISTRY_USERNAME is not set)';
    return new BuildFailure(`${what}: ${error} — the registry refused ${who}, or the account may not push there`, false);
  }
  if (/server gave HTTP response to HTTPS client/i.test(error)) {
    return new BuildFailure(`${what}: ${error} — the registry serves plain HTTP: list ${host} in the engine's insecure-registries (daemon.json)`, false);
  }
  // Connection-level failures and 5xx answers are worth retrying (a port number is not a status: \b).
  const transient = otherwise === 'retry' || /connection refused|connection reset|broken pipe|timeout|no such host|EOF|\b50[0-9]\b|unavailable|i\/o timeout/i.test(error);
  return new BuildFailure(`${what}: ${error}`, transient);
}

/**
 * What an engine that answered says about a build's own input: its context (a path that is both a file and a
 * directory) or its Dockerfile. The same input fails the same way on any engine, so it is never retried.
 */
const contentFault = /not a directory|is a directory|file exists|cannot overwrite|failed to parse dockerfile|dockerfile parse error|line greater than max/i;

/** The engine answered the build request itself with an error (before any step ran): the build's fault, or its own. */
function buildRequestFailure(err: unknown): Error {
  const status = (err as { statusCode?: unknown }).statusCode;
  if (typeof status !== 'number') return isTransient(err) ? engineUnavailable(err) : (err as Error);
  const message = ((err as { json?: { message?: string } }).json?.message ?? (err as Error).message).trim();
  if (status < 500 || contentFault.test(message)) return new BuildFailure(`the Docker engine refused the build (HTTP ${status}): ${message}`, false, { cause: err });
  return new BuildFailure(`the Docker engine failed the build request (HTTP ${status}): ${message}`, true, { cause: err });
}

export async function buildImage(
  docker: Docker,
  context: Readable,
  opts: { tag: string; labels: Record<string, string>; signal?: AbortSignal; noCache?: boolean },
  onEvent: (ev: EngineEvent) => void,
): Promise<void> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(context, {
      t: opts.tag,
      labels: opts.labels,
      rm: true,
      forcerm: true, // remove intermediate containers even when a step fails
      ...(opts.noCache ? { nocache: true } : {}),
      ...(opts.signal ? { abortSignal: opts.signal } : {}),
    });
  } catch (err) {
    throw buildRequestFailure(err);
  }
  await follow(docker, stream, onEvent);
}

/**
 * Pushes `repository:tag`; returns the manifest digest the registry answered and the bytes the engine uploaded
 * (layers the registry had already, or mounted from another repository, count nothing).
 */
export async function pushImage(
  docker: Docker,
  ref: { repository: string; tag: string; registry: string },
  auth: RegistryAuth,
  onEvent: (ev: EngineEvent) => void,
  signal?: AbortSignal,
): Promise<{ digest: string; bytes: number }> {
  let digest: string | undefined;
  let error: string | undefined;
  const sizes = new Map<string, number>();
  let bytes = 0;
  const scan = (ev: EngineEvent) => {
    if (ev.errorDetail || ev.error) error ??= (ev.errorDetail?.message ?? ev.error ?? '').trim();
    if (ev.aux?.Digest) digest = ev.aux.Digest;
    // The containerd image store (Docker ≥ 24) reports the digest only in its status line, with no aux event.
    const said = !digest && ev.status ? /^\S+: digest: (sha256:[0-9a-f]{64}) size: \d+$/.exec(ev.status.trim()) : null;
    if (said) digest = said[1];
    if (ev.id && ev.status === 'Pushing' && ev.progressDetail?.total) sizes.set(ev.id, ev.progressDetail.total);
    if (ev.id && ev.status === 'Pushed') bytes += sizes.get(ev.id) ?? 0;
    onEvent(ev);
  };
  try {
    // The engine wants X-Registry-Auth even for a registry without auth, hence an authconfig always.
    const options = { tag: ref.tag, authconfig: auth, ...(signal ? { abortSignal: signal } : {}) } as ImagePushOptions;
    const stream = await docker.getImage(ref.repository).push(options);
    await follow(docker, stream, scan);
  } catch (err) {
    throw isTransient(err) ? engineUnavailable(err) : err;
  }
  if (error) throw registryFailure(`push to registry ${ref.registry} failed`, error, auth);
  if (!digest) throw new BuildFailure(`push to registry ${ref.registry} ended without a digest`, true);
  return { digest, bytes };
}

/** What a build starts FROM: a template (pinned by digest) or a root of the catalog (by its local image name). */
export type BaseImage = { kind: 'template'; image: string; digest: string } | { kind: 'root'; image: string; root: string };

/** Where builders publish the roots their engines hold (see publishRoots), for builders whose engines lack them. */
export interface PublishedRoots {
  /** REGISTRY_HOST */
  host: string;
  /** REGISTRY_PREFIX: roots live under it, next to kiln-templates, and go with it. */
  prefix: string;
  registry: Pick<RegistryClient, 'manifestDigest'>;
  /**
   * Settles when this builder's own publishing of its roots has ended: a build FROM a root waits for it, so that the
   * root its labels name (by digest) is in the registry.
   */
  published?: Promise<unknown>;
}

/** The registry repository (without host) of a root's published image. */
export const rootRepository = (prefix: string, root: string) => kilnRepository(prefix, 'roots', root);

/**
 * The tag each publisher moves to the root its engine holds. A builder without the root resolves it to a digest once
 * and pulls that digest, so it gets one whole, exact image even while another publisher moves the tag.
 */
export const CURRENT_ROOT_TAG = 'current';

/** Splits a full reference registry/path:tag into repository and tag (what the engine's push and tag calls want). */
export function splitImageRef(ref: string): { repository: string; tag: string } {
  const i = ref.lastIndexOf(':');
  return { repository: ref.slice(0, i), tag: ref.slice(i + 1) };
}

/** True when the engine holds `image`; engine trouble is a retryable failure. */
export async function hasImage(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw isTransient(err) ? engineUnavailable(err) : err;
  }
}

/**
 * Pulls `ref` (`repository@digest` or `repository:tag`) and names it `localName` (the name a Dockerfile's FROM uses).
 * `auth` is what the engine sends to the registry of `ref`.
 */
export async function pullAs(docker: Docker, ref: string, localName: string, auth: RegistryAuth): Promise<void> {
  let error: string | undefined;
  try {
    const stream = await docker.pull(ref, { authconfig: auth } as never);
    await follow(docker, stream, (ev) => {
      if (ev.error || ev.errorDetail) error ??= ev.errorDetail?.message ?? ev.error;
    });
  } catch (err) {
    throw isTransient(err) ? engineUnavailable(err) : err;
  }
  if (error) throw registryFailure(`pulling base image ${ref} from registry ${auth.serveraddress} failed`, error, auth, 'retry');
  const local = splitImageRef(localName);
  await docker.getImage(ref).tag({ repo: local.repository, tag: local.tag });
}

const pullByDigest = (docker: Docker, repository: string, digest: string, localName: string, auth: RegistryAuth) =>
  pullAs(docker, `${repository}@${digest}`, localName, auth);

/** A pull a build had to wait for: how long it took and the size of the image it brought. */
export interface Pulled {
  seconds: number;
  bytes: number;
}

/**
 * Makes sure the engine holds the base before a build starts FROM it, and says which image that is for the OCI base
 * labels. A template built on another host, or a root this host never made, is pulled from the registry by digest
 * (so it is exactly the recorded or published image) and tagged with the name the Dockerfile uses. `hooks` hear of
 * a pull when it starts and, when it is done, what it took (its seconds, and the size of the image it brought).
 */
export async function ensureBaseImage(
  docker: Docker,
  base: BaseImage,
  registry: { auth: RegistryAuth; roots: PublishedRoots },
  signal?: AbortSignal,
  hooks?: { started(): void; done(pulled: Pulled): void },
): Promise<ImageBase> {
  const { auth, roots } = registry;
  const timed = async (pull: () => Promise<void>) => {
    hooks?.started();
    const started = Date.now();
    await pull();
    hooks?.done({ seconds: (Date.now() - started) / 1000, bytes: (await docker.getImage(base.image).inspect()).Size });
  };
  if (base.kind === 'template') {
    if (!(await hasImage(docker, base.image))) await timed(() => pullByDigest(docker, splitImageRef(base.image).repository, base.digest, base.image, auth));
    return { name: base.image, digest: base.digest };
  }
  const repository = rootRepository(roots.prefix, base.root);
  if (!(await hasImage(docker, base.image))) {
    let digest: string | undefined;
    try {
      digest = await roots.registry.manifestDigest(repository, CURRENT_ROOT_TAG);
    } catch (err) {
      throw new BuildFailure(`root image ${base.image} is not on this engine, and registry ${roots.host} could not be asked for it: ${(err as Error).message}`, true, {
        cause: err,
      });
    }
    if (!digest) {
      throw new BuildFailure(
        `root "${base.root}" (${base.image}) is not on this engine, and no builder has published it to registry ${roots.host} ` +
          `as ${roots.host}/${repository}:${CURRENT_ROOT_TAG}: start a builder on an engine that holds it, or make it here`,
        false,
      );
    }
    await timed(() => pullByDigest(docker, `${roots.host}/${repository}`, digest, base.image, auth));
  }
  return publishedRoot(docker, base, roots, signal);
}

const PUBLISHED_ROOT_WAIT_MS = 120_000;

/**
 * The registry name and digest of the root the engine holds, as publishRoots put it there (its image-id tag). Labels
 * only: a root that is not (yet) in the registry, or a registry that cannot be asked, leaves the local name.
 */
async function publishedRoot(docker: Docker, base: { image: string; root: string }, roots: PublishedRoots, signal?: AbortSignal): Promise<ImageBase> {
  const id = (await docker.getImage(base.image).inspect()).Id;
  const repository = rootRepository(roots.prefix, base.root);
  const idTag = id.replace(/^sha256:/, '').slice(0, 12);
  if (roots.published) {
    // For labels only: a publishing that takes long (a first push over a slow network) holds a build two minutes at most.
    let timer: NodeJS.Timeout | undefined;
    const given = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, PUBLISHED_ROOT_WAIT_MS);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([roots.published.catch(() => undefined), given]);
    clearTimeout(timer);
  }
  signal?.throwIfAborted();
  const digest = await roots.registry.manifestDigest(repository, idTag).catch(() => undefined);
  return digest ? { name: `${roots.host}/${repository}:${idTag}`, digest } : { name: base.image };
}

/**
 * Publishes each root the engine holds as <host>/<prefix>/kiln-roots/<root>:<first 12 hex of its image id>, and moves
 * `current` to it, so builders on engines without it can pull the same image (same id) by digest. Cheap when the
 * registry has it already: the engine only checks each layer with a HEAD. Never throws: a registry that is down now
 * is reported by the builds that need a root (ensureBaseImage). Returns what was published.
 */
export async function publishRoots(
  docker: Docker,
  rootImages: { root: string; image: string }[],
  target: { auth: RegistryAuth; prefix: string },
  log: Pick<Logger, 'info' | 'warn'>,
  signal?: AbortSignal,
): Promise<{ root: string; ref: string; digest: string }[]> {
  const published: { root: string; ref: string; digest: string }[] = [];
  const host = target.auth.serveraddress;
  const inFlight = publishing.get(docker) ?? new Map<string, Promise<PublishedRootRef | undefined>>();
  publishing.set(docker, inFlight);
  for (const { root, image } of rootImages) {
    if (signal?.aborted) break;
    const repository = `${host}/${rootRepository(target.prefix, root)}`;
    // One publisher per root and engine: a second one (a builder starting while a composed build publishes) would
    // remove the tags the first is pushing. It waits for the first instead.
    let flight = inFlight.get(repository);
    if (!flight) {
      flight = publishRoot(docker, { root, image, repository, host }, target.auth, log, signal).finally(() => inFlight.delete(repository));
      inFlight.set(repository, flight);
    }
    const done = await flight;
    if (done) published.push(done);
  }
  return published;
}

type PublishedRootRef = { root: string; ref: string; digest: string };
const publishing = new WeakMap<Docker, Map<string, Promise<PublishedRootRef | undefined>>>();

async function publishRoot(
  docker: Docker,
  r: { root: string; image: string; repository: string; host: string },
  auth: RegistryAuth,
  log: Pick<Logger, 'info' | 'warn'>,
  signal?: AbortSignal,
): Promise<PublishedRootRef | undefined> {
  const { root, image, repository, host } = r;
  const tags: string[] = [];
  try {
    const info = await docker.getImage(image).inspect().catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    });
    if (!info) return undefined;
    const idTag = info.Id.replace(/^sha256:/, '').slice(0, 12);
    for (const tag of [idTag, CURRENT_ROOT_TAG]) {
      await docker.getImage(image).tag({ repo: repository, tag });
      tags.push(tag);
    }
    let digest = '';
    // The id tag first: `current` only ever names a manifest that is already complete under its own tag.
    for (const tag of tags) digest = (await pushImage(docker, { repository, tag, registry: host }, auth, () => undefined, signal)).digest;
    log.info({ root, image, ref: `${repository}:${idTag}`, digest }, 'root published to the registry');
    return { root, ref: `${repository}:${idTag}`, digest };
  } catch (err) {
    const message = (err as Error).message;
    if (signal?.aborted) log.info({ root, registry: host }, 'root publishing stopped: the builder is closing');
    // Another process on this engine published the same root and removed its (same-named) tags as it ended: nothing
    // failed, the root is in the registry or on its way there.
    else if (/tag does not exist/i.test(message)) log.info({ root, image, registry: host }, 'root being published by another process on this engine');
    else log.warn({ err: message, root, image, registry: host }, 'could not publish a root to the registry; builders without it cannot build from it until it is');
    return undefined;
  } finally {
    // The engine keeps the root under its own name; the registry names were only needed for the push.
    for (const tag of tags) await docker.getImage(`${repository}:${tag}`).remove({ noprune: true }).catch(() => undefined);
  }
}

/**
 * Housekeeping after an attempt, pushed or not: the engine drops the image's tag (while it still names the image this
 * attempt made — another build of the same tag may have moved it) and the layers of the user's steps, even those of
 * an engine build that was stopped halfway. `noprune` keeps the parent layers — the component steps — as build cache
 * for the next build.
 */
export async function removeBuiltImage(docker: Docker, ref: string, imageId: string | undefined, binaryStepImages: string[]): Promise<void> {
  if (imageId) {
    const info = await docker.getImage(ref).inspect().catch(() => undefined);
    if (info?.Id === imageId) await docker.getImage(ref).remove({ noprune: true });
  }
  // Then the images of this build's own steps (its binary, entrypoint, labels), children first. An image another build
  // still stands on (same binary, built from the cache meanwhile) answers 409 and stays.
  for (const id of binaryStepImages) {
    await docker
      .getImage(id)
      .remove({ noprune: true })
      .catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
      });
  }
}

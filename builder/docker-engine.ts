// The engine calls a build needs, with every stream scanned: dockerode reports build and push errors as events inside
// a successful HTTP response, never as a rejected promise.
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { ImagePushOptions } from 'dockerode';
import { BuildFailure, isTransient } from './build-errors.ts';
import type { EngineEvent } from './build-progress.ts';

export interface RegistryAuth {
  username?: string;
  password?: string;
  serveraddress: string;
}

function follow(docker: Docker, stream: NodeJS.ReadableStream, onEvent: (ev: EngineEvent) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()), onEvent);
  });
}

const engineUnavailable = (err: unknown) =>
  new BuildFailure(`Docker engine unreachable: ${(err as Error).message}`, true, { cause: err });

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
    throw isTransient(err) ? engineUnavailable(err) : err;
  }
  await follow(docker, stream, onEvent);
}

/** Pushes `repository:tag`; returns the manifest digest the registry answered. */
export async function pushImage(
  docker: Docker,
  ref: { repository: string; tag: string; registry: string },
  auth: RegistryAuth,
  onEvent: (ev: EngineEvent) => void,
): Promise<string> {
  let digest: string | undefined;
  let error: string | undefined;
  const scan = (ev: EngineEvent) => {
    if (ev.errorDetail || ev.error) error ??= (ev.errorDetail?.message ?? ev.error ?? '').trim();
    if (ev.aux?.Digest) digest = ev.aux.Digest;
    onEvent(ev);
  };
  try {
    // The engine wants X-Registry-Auth even for a registry without auth, hence an authconfig always.
    const options: ImagePushOptions = { tag: ref.tag, authconfig: auth } as ImagePushOptions;
    const stream = await docker.getImage(ref.repository).push(options);
    await follow(docker, stream, scan);
  } catch (err) {
    throw isTransient(err) ? engineUnavailable(err) : err;
  }
  if (error) {
    // Connection-level failures to the registry are worth retrying; a refusal (auth, bad name) is not.
    const transient = /connection refused|connection reset|timeout|no such host|EOF|50[0-9]|unavailable|i\/o timeout/i.test(error);
    throw new BuildFailure(`push to registry ${ref.registry} failed: ${error}`, transient);
  }
  if (!digest) throw new BuildFailure(`push to registry ${ref.registry} ended without a digest`, true);
  return digest;
}

/**
 * Makes sure the engine holds `image` before a build starts FROM it. A template built on another host is pulled
 * from the registry by digest (so it is exactly the recorded image) and tagged with the name the Dockerfile uses.
 */
export async function ensureBaseImage(docker: Docker, base: { image: string; digest?: string }, auth: RegistryAuth): Promise<void> {
  try {
    await docker.getImage(base.image).inspect();
    return;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw isTransient(err) ? engineUnavailable(err) : err;
  }
  if (!base.digest) throw new BuildFailure(`base image ${base.image} is not on this engine and has no digest to pull`, false);
  const repository = base.image.slice(0, base.image.lastIndexOf(':'));
  const tag = base.image.slice(base.image.lastIndexOf(':') + 1);
  let error: string | undefined;
  try {
    const stream = await docker.pull(`${repository}@${base.digest}`, { authconfig: auth } as never);
    await follow(docker, stream, (ev) => {
      if (ev.error || ev.errorDetail) error ??= ev.errorDetail?.message ?? ev.error;
    });
  } catch (err) {
    throw isTransient(err) ? engineUnavailable(err) : err;
  }
  if (error) throw new BuildFailure(`pulling base image ${repository}@${base.digest} from registry ${auth.serveraddress} failed: ${error}`, true);
  await docker.getImage(`${repository}@${base.digest}`).tag({ repo: repository, tag });
}

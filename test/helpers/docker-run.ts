// Runs an image the way a user would (`docker run --rm IMAGE args…`) and returns what it printed.
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';

export async function runImage(docker: Docker, image: string, cmd: string[] = []): Promise<{ code: number; output: string }> {
  return runContainer(docker, image, { Cmd: cmd });
}

/**
 * Creates a container of `image`, runs it to its end and removes it — also when it cannot start (a broken engine
 * network, say), so no failed test leaves a container behind. Both streams into one buffer (no TTY).
 */
export async function runContainer(docker: Docker, image: string, opts: Docker.ContainerCreateOptions): Promise<{ code: number; output: string }> {
  await ensurePulled(docker, image);
  const container = await docker.createContainer({ ...opts, Image: image, Tty: false, AttachStdout: true, AttachStderr: true });
  try {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const stream = await container.attach({ stream: true, stdout: true, stderr: true });
    container.modem.demuxStream(stream, out, out);
    const ended = new Promise((resolve) => stream.once('end', resolve));
    await container.start();
    const result = (await container.wait()) as { StatusCode: number };
    await ended;
    return { code: result.StatusCode, output: Buffer.concat(chunks).toString('utf8') };
  } finally {
    await container.remove({ force: true });
  }
}

/** Pulls `ref` from its registry (after the local copy was removed), proving the registry really serves it. */
export async function pull(docker: Docker, ref: string): Promise<void> {
  const stream = await docker.pull(ref, { authconfig: {} } as never);
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, events: { error?: string }[]) => {
      const failed = events?.find((e) => e.error);
      if (err || failed) reject(err ?? new Error(failed!.error));
      else resolve();
    }),
  );
}

/** Like `docker run`: pulls the image when the engine does not hold it (builders remove what they pushed). */
export async function ensurePulled(docker: Docker, ref: string): Promise<void> {
  try {
    await docker.getImage(ref).inspect();
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    await pull(docker, ref);
  }
}

// The build context as a tar stream: the Dockerfile, install scripts, and the binary streamed from S3 (never buffered).
import type { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { BINARY_CONTEXT_PATH, type RenderedBuild } from './dockerfile-render.ts';

/** `binary` absent: a template build, which has nothing of a user's. */
export function buildContext(rendered: RenderedBuild, binary?: { stream: Readable; size: number }): Readable {
  const pack = tarPack();
  const mtime = new Date(0); // fixed, so identical inputs make identical contexts (and cache keys)
  void (async () => {
    try {
      pack.entry({ name: 'Dockerfile', mode: 0o644, mtime }, rendered.dockerfile);
      for (const f of rendered.files) pack.entry({ name: f.path, mode: 0o755, mtime }, f.content);
      // The binary keeps mode 0755 from the tar header: the classic builder's COPY preserves it, so it can be run.
      if (binary) await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ name: BINARY_CONTEXT_PATH, size: binary.size, mode: 0o755, mtime }, (err) => (err ? reject(err) : resolve()));
        binary.stream.on('error', reject);
        binary.stream.pipe(entry);
      });
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  // tar-stream packs are streamx streams; they pipe like Node streams, which is all docker-modem asks of them.
  return pack as unknown as Readable;
}

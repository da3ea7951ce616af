// How the builder reads the engine's refusals: a build whose own content the engine cannot unpack fails at once as
// the build's fault (no retry, not "engine unreachable"), since the same content fails the same way on any engine.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { BuildFailure, isTransient } from '../builder/build-errors.ts';
import { buildImage } from '../builder/docker-engine.ts';
import { MAX_DOCKERFILE_LINE_BYTES, userEnvInstruction } from '../core/dockerfile-lines.ts';
import { dockerClient } from '../core/infrastructure.ts';
import { envWithLineBytes } from './helpers/long-lines.ts';

const docker = dockerClient({});

/** A build context as kiln would send it, with whatever entries the test wants in it. */
function context(entries: { name: string; content: string }[]): Readable {
  const pack = tarPack();
  for (const e of entries) pack.entry({ name: e.name, mode: 0o644 }, e.content);
  pack.finalize();
  return pack as unknown as Readable;
}

describe('the engine refusing a build', () => {
  it('a context holding a file and a path inside it: a permanent failure naming the cause, nothing tagged', async () => {
    const tag = `kiln-engine-faults:${randomBytes(4).toString('hex')}`;
    const ctx = context([
      { name: 'Dockerfile', content: 'FROM kiln-root:debian-bookworm\nCOPY ["archive", "/opt/app"]\n' },
      { name: 'archive/a', content: 'a file' },
      { name: 'archive/a/b', content: 'inside the file' },
    ]);
    const err = await buildImage(docker, ctx, { tag, labels: {} }, () => undefined).then(
      () => assert.fail('the engine built it'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BuildFailure, String(err));
    assert.equal(isTransient(err), false, err.message);
    assert.match(err.message, /refused the build \(HTTP 500\).*not a directory/);
    assert.doesNotMatch(err.message, /unreachable/);
    await assert.rejects(docker.getImage(tag).inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
  });

  it("the engine's line limit is kiln's: the longest ENV line the planner accepts builds, one byte more is refused", async () => {
    const tag = `kiln-engine-faults:${randomBytes(4).toString('hex')}`;
    const dockerfile = (bytes: number) => `FROM kiln-root:debian-bookworm\n${userEnvInstruction(envWithLineBytes(bytes))}\n`;
    try {
      let error: string | undefined;
      await buildImage(docker, context([{ name: 'Dockerfile', content: dockerfile(MAX_DOCKERFILE_LINE_BYTES) }]), { tag, labels: {} }, (ev) => {
        error ??= ev.error;
      });
      assert.equal(error, undefined);
      const env = (await docker.getImage(tag).inspect()).Config.Env ?? [];
      assert.ok(env.some((e) => e.startsWith('K00=xxxx')), 'the image holds the values');
    } finally {
      await docker.getImage(tag).remove().catch(() => undefined);
    }
    const over = await buildImage(docker, context([{ name: 'Dockerfile', content: dockerfile(MAX_DOCKERFILE_LINE_BYTES + 1) }]), { tag, labels: {} }, () => undefined).then(
      () => assert.fail('the engine accepted a longer line'),
      (e: unknown) => e,
    );
    assert.ok(over instanceof BuildFailure && !isTransient(over), String(over));
    assert.match(over.message, /line greater than max allowed size of 65535/);
  });

  it('an engine that does not answer at all is still a transient failure', async () => {
    const nowhere = dockerClient({ DOCKER_HOST: 'unix:///nonexistent/kiln-test.sock' });
    const err = await buildImage(nowhere, context([{ name: 'Dockerfile', content: 'FROM scratch\n' }]), { tag: 'x:y', labels: {} }, () => undefined).then(
      () => assert.fail('built without an engine'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BuildFailure, String(err));
    assert.equal(isTransient(err), true);
    assert.match(err.message, /Docker engine unreachable/);
  });
});

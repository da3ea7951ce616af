// The first publishing of a root into a fresh registry, as a fresh start does it: the builder publishes its roots in
// the background as it starts, and a composed build (or a verification the analyzer queued) finds no
// kiln-roots/<root>:current and publishes the same root at the same time, on the same engine. Nothing fails, so
// nothing may be logged at warn or above. The two publishings used to tag and push the same names, and the first to
// end removed the tags the second was still pushing: `push to registry … failed: tag does not exist`, at warn.
//
// The interleaving is made, not hoped for: a proxy in front of a fresh registry holds the manifest puts of the first
// publishing's `current` and of a second push of the id tag, and lets them go in the order that broke.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { CURRENT_ROOT_TAG, publishRoots, rootRepository } from '../builder/docker-engine.ts';
import { dockerClient } from '../core/infrastructure.ts';
import { startScratchRegistry, type ScratchRegistry } from './helpers/scratch-registry.ts';
import { waitUntil } from './helpers/wait.ts';

/** A plain HTTP proxy to `upstream` that holds the requests `hold` picks until release() lets them through. */
async function startGate(upstream: string) {
  const [upHost, upPort] = upstream.split(':') as [string, string];
  const sockets = new Set<Socket>();
  const held: { line: string; go: () => void }[] = [];
  let hold: (line: string) => boolean = () => false;
  const server = http.createServer((req, res) => {
    const line = `${req.method} ${req.url}`;
    const forward = () => {
      const up = http.request({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (hold(line)) held.push({ line, go: forward });
    else forward();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    host: `127.0.0.1:${(server.address() as { port: number }).port}`,
    held,
    holdWhen(pick: (line: string) => boolean) {
      hold = pick;
    },
    /** Lets the held requests `pick` chooses through, and holds no more of them. */
    release(pick: (line: string) => boolean) {
      const prev = hold;
      hold = (line) => prev(line) && !pick(line);
      for (const h of held.filter((x) => pick(x.line))) {
        held.splice(held.indexOf(h), 1);
        h.go();
      }
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('the first publishing of a root into a fresh registry, twice at once on one engine', { timeout: 600_000 }, () => {
  let registry: ScratchRegistry;
  let gate: Awaited<ReturnType<typeof startGate>>;
  before(async () => {
    registry = await startScratchRegistry('plain');
    gate = await startGate(registry.host);
  });
  after(async () => {
    await gate?.close();
    await registry?.remove();
  });

  it('logs nothing at warn or above, and both callers get the published root', async () => {
    const docker = dockerClient({ DOCKER_HOST: process.env.DOCKER_HOST });
    const root = 'debian-bookworm';
    const image = `${process.env.KILN_ROOT_IMAGE_PREFIX ?? 'kiln-root'}:${root}`;
    const idTag = (await docker.getImage(image).inspect()).Id.replace(/^sha256:/, '').slice(0, 12);
    const prefix = `kiln-test/${randomBytes(4).toString('hex')}`;
    const repository = rootRepository(prefix, root);
    const lines: { level: number; msg: string; err?: string }[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(...chunk.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string }));
          done();
        },
      }),
    );
    const target = { auth: { serveraddress: gate.host }, prefix };
    const manifestPut = (tag: string) => (line: string) => line === `PUT /v2/${repository}/manifests/${tag}`;

    // The first publishing (the builder's, at start) pushes its id tag, then reaches `current`: held there.
    gate.holdWhen(manifestPut(CURRENT_ROOT_TAG));
    const first = publishRoots(docker, [{ root, image }], target, log);
    await waitUntil(() => gate.held.some((h) => manifestPut(CURRENT_ROOT_TAG)(h.line)), 'the first publishing reached its push of current', 300_000);

    // The second (a composed build that found no `current`) starts now. Its own push of the id tag, if it makes one,
    // is held until the first has ended and removed its tags.
    gate.holdWhen((line) => manifestPut(CURRENT_ROOT_TAG)(line) || manifestPut(idTag)(line));
    const second = publishRoots(docker, [{ root, image }], target, log);
    // A publishing that pushes again reaches the registry within seconds; one that waits for the first never does.
    // The wait has a deadline because its absence is the right outcome.
    await waitUntil(() => gate.held.some((h) => manifestPut(idTag)(h.line)), 'no second push', 30_000).catch(() => undefined);

    gate.release(manifestPut(CURRENT_ROOT_TAG));
    const firstDone = await first;
    gate.release(() => true);
    const secondDone = await second;

    const loud = lines.filter((l) => l.level >= 40);
    assert.deepEqual(loud, [], `warn or error lines:\n${loud.map((l) => JSON.stringify(l)).join('\n')}`);
    assert.equal(firstDone.length, 1, JSON.stringify(lines));
    assert.deepEqual(secondDone, firstDone, 'the second caller gets the root the first published');
    assert.ok(lines.some((l) => l.msg === 'root published to the registry'), JSON.stringify(lines));
    const current = await fetch(`http://${registry.host}/v2/${repository}/manifests/${CURRENT_ROOT_TAG}`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    assert.equal(current.headers.get('docker-content-digest'), firstDone[0]!.digest, 'current names the published root');
    // The engine keeps the root under its own name only: the registry names were for the push.
    for (const tag of [idTag, CURRENT_ROOT_TAG]) {
      assert.equal(await docker.getImage(`${gate.host}/${repository}:${tag}`).inspect().then(() => true, () => false), false, `${tag} left on the engine`);
    }
  });
});

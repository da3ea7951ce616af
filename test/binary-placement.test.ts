// A user's binaryPath and archive never break the image (issue 22, findings 2 and 3): a composed build places the
// binary as the installed route's COPY does — into /bin's target and into /usr/local/bin, keeping the link and the
// directory; archive entries named `.wh.*` (whiteouts to an image layer) are refused at upload; and a binary that
// breaks dpkg's state fails its build with the check named, on both routes, with nothing pushed.
// Seen on Debian 12's Docker 20.10 (overlay2) with the local registry (distribution 2.8).
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { rootRepository } from '../builder/docker-engine.ts';
import { call, postBuild, upload, uploadStream, waitFor, waitForBuild, type BuildView } from './helpers/api-client.ts';
import { runContainer, runImage } from './helpers/docker-run.ts';
import { makeTar } from './hostile/tar-fixtures.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const script = (text: string) => Buffer.from(`#!/bin/sh\necho "${text}"\n`);
/** An archive that replaces dpkg's status file with garbage when unpacked at /var/lib/dpkg. */
const garbageStatus = () => makeTar([{ name: 'status', content: 'this is not a dpkg status file\n' }]);

function suite(name: string, composition: boolean, cases: (k: () => TestKiln, pulled: string[]) => void) {
  describe(name, { timeout: 900_000 }, () => {
    let kiln: TestKiln;
    const pulled: string[] = [];
    before(async () => {
      kiln = await startTestKiln({ builder: true, env: { KILN_COMPOSITION: String(composition) } });
      if (composition) await waitFor('the root published', () => kiln.infra.registry.manifestDigest(rootRepository(kiln.config.REGISTRY_PREFIX, 'debian-bookworm'), 'current'), 180_000);
    });
    after(async () => {
      for (const ref of pulled) await kiln?.infra.docker.getImage(ref).remove({ force: true }).catch(() => undefined);
      await kiln?.close();
    });
    cases(() => kiln, pulled);
  });
}

async function build(kiln: TestKiln, spec: Record<string, unknown>): Promise<BuildView & { plan: { base: { kind: string } } }> {
  const res = await postBuild(kiln, spec);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return (await waitForBuild(kiln, res.body.id as string, 600_000)) as BuildView & { plan: { base: { kind: string } } };
}

/** The manifest of a build's image ref (host/repository:tag) in this kiln's registry (undefined: nothing was pushed). */
const pushed = (kiln: TestKiln, imageRef: string) => {
  const at = imageRef.lastIndexOf(':');
  return kiln.infra.registry.manifestDigest(imageRef.slice(imageRef.indexOf('/') + 1, at), imageRef.slice(at + 1));
};

suite('binaryPath on a composed build, as COPY places it', true, (k, pulled) => {
  it('binaryPath /bin: the file lands at /usr/bin/binary, /bin stays a link, the image starts', async () => {
    const kiln = k();
    const up = await upload(kiln, script('placed through the link'));
    const b = await build(kiln, { components: [], uploadId: up.body.id, binaryPath: '/bin', entrypoint: ['/bin/binary'], image: 'place/bin:1' });
    assert.equal(b.status, 'succeeded', b.error ?? '');
    assert.equal(b.plan.base.kind, 'composed');
    pulled.push(b.imageRef!);
    const run = await runImage(kiln.infra.docker, b.imageRef!);
    assert.equal(run.code, 0, run.output);
    assert.equal(run.output.trim(), 'placed through the link');
    const fs = await runContainer(kiln.infra.docker, b.imageRef!, { Entrypoint: ['/bin/sh', '-c', 'readlink /bin; test -x /usr/bin/binary && echo ok; ls /usr/bin/sh'] });
    assert.equal(fs.code, 0, fs.output);
    assert.deepEqual(fs.output.trim().split('\n'), ['usr/bin', 'ok', '/usr/bin/sh']);
  });

  it('binaryPath /usr/local/bin: the file lands inside the directory, found on PATH', async () => {
    const kiln = k();
    const up = await upload(kiln, script('inside the directory'));
    const b = await build(kiln, { components: [], uploadId: up.body.id, binaryPath: '/usr/local/bin', entrypoint: ['binary'], image: 'place/local:1' });
    assert.equal(b.status, 'succeeded', b.error ?? '');
    assert.equal(b.plan.base.kind, 'composed');
    pulled.push(b.imageRef!);
    const run = await runImage(kiln.infra.docker, b.imageRef!);
    assert.equal(run.code, 0, run.output);
    assert.equal(run.output.trim(), 'inside the directory');
    const fs = await runContainer(kiln.infra.docker, b.imageRef!, { Entrypoint: ['/bin/sh', '-c', 'test -d /usr/local/bin && test -x /usr/local/bin/binary && echo dir-kept'] });
    assert.equal(fs.output.trim(), 'dir-kept', fs.output);
  });

  it('an archive entry named .wh.* is refused at upload with 400 naming the entry', async () => {
    const kiln = k();
    const tar = await makeTar([{ name: 'status', content: 'x\n' }, { name: '.wh.info', content: '' }, { name: '.wh..wh..opq', content: '' }]);
    const res = await uploadStream(kiln, Readable.from([tar]), '?archive=tar');
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(JSON.stringify(res.body), /\.wh\.info.*reserve for deletions/);
  });

  it('an archive that breaks dpkg fails its composed build, naming dpkg --audit and the path; nothing is pushed', async () => {
    const kiln = k();
    const up = await uploadStream(kiln, Readable.from([await garbageStatus()]), '?archive=tar');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const b = await build(kiln, { components: [], uploadId: up.body.id, binaryPath: '/var/lib/dpkg', entrypoint: ['/bin/sh', '-c', 'true'], image: 'place/dpkg:1' });
    assert.equal(b.status, 'failed');
    assert.equal(b.plan.base.kind, 'composed');
    assert.match(b.error ?? '', /final image check "dpkg --audit" failed at \/var\/lib\/dpkg\/status/);
    assert.equal(await pushed(kiln, b.imageRef!), undefined);
  });
});

suite('the final image check on an installed build', false, (k) => {
  it('an archive that breaks dpkg fails its installed build, naming dpkg --audit and the path; nothing is pushed', async () => {
    const kiln = k();
    const up = await uploadStream(kiln, Readable.from([await garbageStatus()]), '?archive=tar');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const b = await build(kiln, { components: [], uploadId: up.body.id, binaryPath: '/var/lib/dpkg', entrypoint: ['/bin/sh', '-c', 'true'], image: 'install/dpkg:1' });
    assert.equal(b.status, 'failed');
    assert.notEqual(b.plan.base.kind, 'composed');
    assert.match(b.error ?? '', /final image check "dpkg --audit" failed at \/var\/lib\/dpkg\/status/);
    assert.equal(await pushed(kiln, b.imageRef!), undefined);
  });

  it('an entrypoint whose program the binary does not provide fails the build, naming it', async () => {
    const kiln = k();
    const up = await upload(kiln, script('x'));
    const b = await build(kiln, { components: [], uploadId: up.body.id, binaryPath: '/opt/app/run', entrypoint: ['/opt/app/missing'], image: 'install/missing:1' });
    assert.equal(b.status, 'failed');
    assert.match(b.error ?? '', /final image check "entrypoint" failed at \/opt\/app\/missing/);
    assert.equal(await pushed(kiln, b.imageRef!), undefined);
  });
});

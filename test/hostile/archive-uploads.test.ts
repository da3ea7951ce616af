// Archive uploads end to end: a tar.gz with links, odd names and a setuid bit is built on the real engine, and the
// image holds its files under the target directory and nothing anywhere else; an archive upload aborted half way
// leaves nothing in S3 or the database.
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { uploads } from '../../core/db/schema/uploads.ts';
import { authHeaders, call, postBuild, waitForBuild } from '../helpers/api-client.ts';
import { runImage } from '../helpers/docker-run.ts';
import { startTestKiln, type TestKiln } from '../helpers/test-kiln.ts';
import { makeTar } from './tar-fixtures.ts';

const listing = "find / -xdev \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -print | LC_ALL=C sort";

describe('archive uploads', () => {
  let kiln: TestKiln;
  before(async () => {
    kiln = await startTestKiln({ builder: true });
  });
  after(() => kiln?.close());

  it('unpacks a tar.gz into binaryPath and nowhere else, as the literal entries', async () => {
    const tar = await makeTar(
      [
        { name: './', type: 'directory' },
        { name: './bin/', type: 'directory' },
        { name: './bin/run.sh', content: '#!/bin/sh\necho "ran with $# args: $*"\n', mode: 0o755 },
        { name: './bin/hard', type: 'link', linkname: './bin/run.sh' },
        { name: './lib', type: 'symlink', linkname: 'bin' },
        { name: './$(touch /pwned)', content: 'a file with a hostile name\n' },
        { name: './suid', content: 'x', mode: 0o4755 },
        { name: './a/b/c/deep.txt', content: 'deep\n' },
      ],
      { gzip: true },
    );
    const up = await call(kiln, '/v1/uploads?archive=tar&filename=app.tar.gz', { method: 'POST', body: new Blob([new Uint8Array(tar)]) });
    assert.equal(up.status, 201);
    const upload = (await up.json()) as { id: string; kind: string; entries: number };
    assert.equal(upload.kind, 'tar');
    assert.equal(upload.entries, 8);

    const res = await postBuild(kiln, {
      root: 'debian-bookworm',
      components: [],
      uploadId: upload.id,
      binaryPath: '/opt/app',
      entrypoint: ['/bin/sh', '-c'],
      cmd: ['/opt/app/lib/run.sh one two; echo "$HOSTILE"'],
      env: { HOSTILE: '$(touch /pwned-env) `id` "q" \\' },
      image: 'hostile/archive:1',
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const build = await waitForBuild(kiln, res.body.id);
    assert.equal(build.status, 'succeeded', build.error ?? '');
    const plan = (build.plan as unknown as { binary: { kind?: string } }).binary;
    assert.equal(plan.kind, 'tar');

    const run = await runImage(kiln.infra.docker, build.imageRef);
    assert.equal(run.code, 0, run.output);
    assert.equal(run.output, 'ran with 2 args: one two\n$(touch /pwned-env) `id` "q" \\\n');

    const stat = await runImage(kiln.infra.docker, build.imageRef, [
      `cd /opt/app && stat -c "%n %F %a" bin bin/run.sh bin/hard lib suid '$(touch /pwned)' a/b/c/deep.txt && readlink lib && ls /pwned /pwned-env 2>&1; true`,
    ]);
    assert.equal(
      stat.output,
      [
        'bin directory 755',
        'bin/run.sh regular file 755',
        'bin/hard regular file 755',
        'lib symbolic link 777',
        'suid regular file 755', // setuid dropped on re-packing
        '$(touch /pwned) regular file 644',
        'a/b/c/deep.txt regular file 644',
        'bin',
        "ls: cannot access '/pwned': No such file or directory",
        "ls: cannot access '/pwned-env': No such file or directory",
        '',
      ].join('\n'),
    );

    // Every path the image adds to its root is under the target directory.
    const rootImage = `${kiln.config.KILN_ROOT_IMAGE_PREFIX}:debian-bookworm`;
    const [mine, root] = await Promise.all([runImage(kiln.infra.docker, build.imageRef, [listing]), runImage(kiln.infra.docker, rootImage, ['sh', '-c', listing])]);
    const rootPaths = new Set(root.output.split('\n'));
    const added = mine.output.split('\n').filter((p) => !rootPaths.has(p));
    assert.deepEqual(
      added.sort(),
      // `$(touch /pwned)` holds a slash: a directory `$(touch ` with a file `pwned)` in it, both literal.
      ['/opt/app', '/opt/app/$(touch ', '/opt/app/$(touch /pwned)', '/opt/app/a', '/opt/app/a/b', '/opt/app/a/b/c', '/opt/app/a/b/c/deep.txt', '/opt/app/bin', '/opt/app/bin/hard', '/opt/app/bin/run.sh', '/opt/app/lib', '/opt/app/suid'].sort(),
    );
  });

  it('an archive upload aborted half way leaves no object and no row', async () => {
    const rows = () => kiln.infra.database.db.$count(uploads);
    const objects = async () => (await kiln.objectKeys()).filter((k) => k.startsWith('uploads/')).length;
    const before = { rows: await rows(), objects: await objects() };
    const tar = await makeTar([{ name: 'big', content: randomBytes(24 * 1024 * 1024) }]);
    const outcome = await new Promise<string>((resolve) => {
      const req = http.request(`${kiln.url}/v1/uploads?archive=tar`, { method: 'POST', headers: { ...authHeaders(kiln), 'content-length': tar.length } });
      req.on('response', (r) => resolve(`answered ${r.statusCode}`));
      req.on('error', () => resolve('aborted'));
      // Half the bytes, then the client goes away.
      req.write(tar.subarray(0, tar.length / 2), () => setTimeout(() => req.destroy(), 200));
    });
    assert.equal(outcome, 'aborted');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await rows(), before.rows);
    assert.equal(await objects(), before.objects);
  });
});

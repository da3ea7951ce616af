// Where a composed build's binary layer writes the upload (core/composition/binary-placement.ts), on a view shaped like
// Debian's root, and the final image's program check (core/image-check.ts). Pure: no engine.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArchivePlacer, PlacementError, placeBinary, resolveInImage } from '../../core/composition/binary-placement.ts';
import { FsView, type IndexEntry } from '../../core/composition/layer-index.ts';
import { checkProgram, ImageCheckFailed, interpreterOf, touchesDpkg } from '../../core/image-check.ts';

const dir = (path: string, mode = 0o755, uid = 0, gid = 0): IndexEntry => ({ path, type: 'dir', mode, uid, gid, size: 0 });
const file = (path: string, mode = 0o644): IndexEntry => ({ path, type: 'file', mode, uid: 0, gid: 0, size: 1 });
const link = (path: string, linkname: string): IndexEntry => ({ path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkname });

function debian(): FsView {
  return new FsView().apply({
    entries: [
      dir('usr'), dir('usr/bin'), dir('usr/sbin'), dir('usr/local'), dir('usr/local/bin'), dir('usr/lib'), dir('etc'),
      link('bin', 'usr/bin'), link('sbin', 'usr/sbin'), link('lib', 'usr/lib'), link('lib64', 'usr/lib64'), dir('usr/lib64'),
      file('usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', 0o755), link('usr/lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'),
      file('usr/bin/dash', 0o755), link('usr/bin/sh', 'dash'), file('usr/bin/env', 0o755), file('etc/f'), link('flink', '/etc/f'),
      link('dangle', '/nonexistent/y'), dir('opt'), dir('opt/tgt'), link('rel', '../opt/tgt'), dir('data', 0o700, 5, 6), link('d2link', 'data'),
      link('loop1', 'loop2'), link('loop2', 'loop1'), dir('x'), file('x/f'),
    ],
    whiteouts: [],
    opaque: [],
  });
}

describe('binaryPath placement, as COPY resolves it', () => {
  it('puts a file into an existing directory, through links, as "binary" (never a file /bin over the link)', () => {
    const v = debian();
    assert.deepEqual(placeBinary(v, '/bin', 'file'), { kind: 'file', path: 'usr/bin/binary' });
    assert.deepEqual(placeBinary(v, '/usr/local/bin', 'file'), { kind: 'file', path: 'usr/local/bin/binary' });
    assert.deepEqual(placeBinary(v, '/rel', 'file'), { kind: 'file', path: 'opt/tgt/binary' });
    assert.deepEqual(placeBinary(v, '/bin/app', 'file'), { kind: 'file', path: 'usr/bin/app' });
  });

  it('follows a leaf link to a file or a dangling one, and keeps a new path as it is', () => {
    const v = debian();
    assert.deepEqual(placeBinary(v, '/flink', 'file'), { kind: 'file', path: 'etc/f' });
    assert.deepEqual(placeBinary(v, '/dangle', 'file'), { kind: 'file', path: 'nonexistent/y' });
    assert.deepEqual(placeBinary(v, '/opt/new/deep/app', 'file'), { kind: 'file', path: 'opt/new/deep/app' });
    assert.equal(resolveInImage(v, '/bin/../etc'), 'usr/etc');
    assert.equal(resolveInImage(v, '/../../etc'), 'etc');
  });

  it('unpacks an archive into an existing directory (kept) or a new one; refuses a file, a loop, a path under a file', () => {
    const v = debian();
    assert.deepEqual(placeBinary(v, '/data', 'tar'), { kind: 'dir', path: 'data', existing: true });
    assert.deepEqual(placeBinary(v, '/sbin', 'tar'), { kind: 'dir', path: 'usr/sbin', existing: true });
    assert.deepEqual(placeBinary(v, '/opt/fresh', 'tar'), { kind: 'dir', path: 'opt/fresh', existing: false });
    assert.throws(() => placeBinary(v, '/flink', 'tar'), (e: unknown) => e instanceof PlacementError && e.path === '/etc/f');
    assert.throws(() => placeBinary(v, '/loop1', 'file'), /too many symlinks/);
    assert.throws(() => placeBinary(v, '/x/f/inside', 'file'), (e: unknown) => e instanceof PlacementError && e.path === '/x/f');
  });

  it('places archive entries through the image links, keeps image directories, never replaces a directory or link', () => {
    const v = debian();
    const p = new ArchivePlacer(v, '');
    assert.deepEqual(p.place({ path: 'bin', type: 'directory' }), { path: 'usr/bin', keep: { mode: 0o755, uid: 0, gid: 0 } });
    assert.deepEqual(p.place({ path: 'bin/tool', type: 'file' }), { path: 'usr/bin/tool' });
    assert.deepEqual(p.place({ path: 'data', type: 'directory' }), { path: 'data', keep: { mode: 0o700, uid: 5, gid: 6 } });
    assert.throws(() => p.place({ path: 'usr', type: 'file' }), /would replace the directory \/usr/);
    assert.throws(() => p.place({ path: 'flink', type: 'file' }), /would replace the symlink \/flink/);
    assert.equal(p.landed('bin/tool'), 'usr/bin/tool');
  });
});

describe('final image program check', () => {
  const elf = (interp: string) => {
    const b = Buffer.alloc(0x200);
    b.writeUInt32BE(0x7f454c46, 0);
    b[4] = 2; b[5] = 1;
    b.writeBigUInt64LE(64n, 0x20);
    b.writeUInt16LE(56, 0x36);
    b.writeUInt16LE(1, 0x38);
    b.writeUInt32LE(3, 64);
    b.writeBigUInt64LE(0x100n, 64 + 8);
    b.writeBigUInt64LE(BigInt(interp.length + 1), 64 + 0x20);
    b.write(interp, 0x100, 'latin1');
    return b;
  };

  it('reads #! lines and ELF interpreters', () => {
    assert.deepEqual(interpreterOf(Buffer.from('#!/usr/bin/env python3\nprint(1)')), { kind: 'script', path: '/usr/bin/env', arg: 'python3' });
    assert.deepEqual(interpreterOf(elf('/lib64/ld-linux-x86-64.so.2')), { kind: 'elf', path: '/lib64/ld-linux-x86-64.so.2' });
    assert.equal(interpreterOf(Buffer.from('plain')), undefined);
  });

  it('finds the program through PATH and links; names the check and path when it or its interpreter is missing', () => {
    const v = debian();
    const heads = new Map<string, Buffer>([['usr/bin/app', elf('/lib64/ld-linux-x86-64.so.2')], ['usr/bin/bad', elf('/lib/ld-musl-x86_64.so.1')], ['usr/bin/py', Buffer.from('#!/usr/bin/env python3\n')]]);
    v.apply({ entries: [file('usr/bin/app', 0o755), file('usr/bin/bad', 0o755), file('usr/bin/py', 0o755)], whiteouts: [], opaque: [] });
    const fs = { get: (p: string) => v.get(p), hasDir: (p: string) => v.hasDir(p), head: (p: string) => heads.get(p) };
    checkProgram(fs, 'app', { path: '/usr/local/bin:/bin' });
    checkProgram(fs, '/bin/sh');
    const failed = (fn: () => void) => { try { fn(); } catch (e) { assert.ok(e instanceof ImageCheckFailed); return e; } assert.fail('passed'); };
    assert.deepEqual(((e) => [e.check, e.path])(failed(() => checkProgram(fs, 'nothere'))), ['entrypoint', 'nothere']);
    assert.deepEqual(((e) => [e.check, e.path])(failed(() => checkProgram(fs, '/usr/bin/bad'))), ['interpreter', '/lib/ld-musl-x86_64.so.1']);
    assert.deepEqual(((e) => [e.check, e.path])(failed(() => checkProgram(fs, 'py'))), ['interpreter', 'python3']);
  });

  it('knows which paths are dpkg state', () => {
    assert.equal(touchesDpkg(['opt/app/x', 'var/lib/dpkg/status']), 'var/lib/dpkg/status');
    assert.equal(touchesDpkg(['var/lib', 'var/lib/dpkgx']), undefined);
  });
});

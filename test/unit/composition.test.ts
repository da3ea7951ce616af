import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { composeConfig, composeEnv, DEFAULT_PATH, expandEnv } from '../../core/composition/image-config.ts';
import { placeBinary } from '../../core/composition/binary-placement.ts';
import { findConflicts } from '../../core/composition/layer-conflicts.ts';
import { classifyName, FsView, type IndexEntry, type LayerIndex } from '../../core/composition/layer-index.ts';
import { planMergeLayer, type StateFile } from '../../core/composition/merge-layer.ts';
import { sharedState } from '../../core/composition/shared-state.ts';
import { mergeState, parseAlternatives, serializeAlternatives } from '../../core/composition/state-merge.ts';

const para = (pkg: string, version: string) => `Package: ${pkg}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}`;
const status = (...ps: string[]) => `${ps.join('\n\n')}\n`;
const file = (path: string, extra: Partial<IndexEntry> = {}): IndexEntry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, sha256: 'a', ...extra });
const dir = (path: string, extra: Partial<IndexEntry> = {}): IndexEntry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, ...extra });
const layer = (entries: IndexEntry[], more: Partial<LayerIndex> = {}): LayerIndex => ({ entries, whiteouts: [], opaque: [], ...more });
const state = (text: string, mode = 0o644): StateFile => ({ content: Buffer.from(text), mode, uid: 0, gid: 0 });

describe('layer names', () => {
  it('tells opaque markers, whiteouts and entries apart', () => {
    assert.deepEqual(classifyName('./usr/include/x86_64-linux-gnu/.wh..wh..opq'), { kind: 'opaque', dir: 'usr/include/x86_64-linux-gnu' });
    assert.deepEqual(classifyName('var/lib/apt/lists/.wh.partial'), { kind: 'whiteout', target: 'var/lib/apt/lists/partial' });
    assert.deepEqual(classifyName('usr/bin/'), { kind: 'entry', path: 'usr/bin' });
  });
});

describe('filesystem view', () => {
  const root = layer([dir('usr'), dir('usr/bin'), { ...file('bin'), type: 'symlink', linkname: 'usr/bin' }, file('usr/bin/sh'), dir('opt')]);
  it('follows a symlinked parent the way COPY does, and names the directories to create', () => {
    const view = new FsView().apply(root);
    assert.deepEqual(placeBinary(view, '/bin/hello', 'file'), { kind: 'file', path: 'usr/bin/hello' });
    assert.deepEqual(placeBinary(view, '/opt/app/bin/run', 'file'), { kind: 'file', path: 'opt/app/bin/run' });
  });
  it('applies whiteouts and opaque directories of upper layers', () => {
    const view = new FsView().apply(root).apply(layer([file('opt/x')])).apply(layer([], { whiteouts: ['usr/bin/sh'], opaque: ['opt'] }));
    assert.equal(view.get('usr/bin/sh'), undefined);
    assert.equal(view.get('opt/x'), undefined);
    assert.ok(view.hasDir('opt'));
  });
});

describe('shared state merges', () => {
  const base = status(para('libc6', '2.36'), para('zlib1g', '1.2'));
  const kind = sharedState('var/lib/dpkg/status')!;
  it('unites the packages each layer added to the root', () => {
    const r = mergeState(kind, base, [
      { layer: 'jdk@17', text: status(para('libc6', '2.36'), para('zlib1g', '1.2'), para('openjdk-17', '17.0')) },
      { layer: 'gcc@12', text: status(para('gcc-12', '12.2'), para('libc6', '2.36'), para('zlib1g', '1.2')) },
    ]);
    assert.deepEqual(r.conflicts, []);
    assert.deepEqual([...r.text.matchAll(/^Package: (.+)$/gm)].map((m) => m[1]), ['gcc-12', 'libc6', 'openjdk-17', 'zlib1g']);
  });
  it('refuses the same package at two versions, naming both layers', () => {
    const r = mergeState(kind, base, [
      { layer: 'a@1', text: status(para('libc6', '2.36'), para('zlib1g', '1.3')) },
      { layer: 'b@1', text: status(para('libc6', '2.36'), para('zlib1g', '1.4')) },
    ]);
    assert.deepEqual(r.conflicts, ['zlib1g:amd64 (a@1 and b@1)']);
  });
  it('takes one layer upgrading a root package over the others leaving it alone', () => {
    const r = mergeState(kind, base, [
      { layer: 'a@1', text: status(para('libc6', '2.36'), para('zlib1g', '1.3')) },
      { layer: 'b@1', text: base },
    ]);
    assert.deepEqual(r.conflicts, []);
    assert.match(r.text, /Version: 1\.3/);
  });
  it('merges accounts by name and diversions by path', () => {
    const passwd = mergeState(sharedState('etc/passwd')!, 'root:x:0:0::/root:/bin/sh\n', [
      { layer: 'a@1', text: 'root:x:0:0::/root:/bin/sh\nsvc:x:100:100::/:/usr/sbin/nologin\n' },
      { layer: 'b@1', text: 'root:x:0:0::/root:/bin/sh\nother:x:101:101::/:/usr/sbin/nologin\n' },
    ]);
    assert.equal(passwd.text, 'root:x:0:0::/root:/bin/sh\nsvc:x:100:100::/:/usr/sbin/nologin\nother:x:101:101::/:/usr/sbin/nologin\n');
    const clash = mergeState(sharedState('etc/passwd')!, '', [
      { layer: 'a@1', text: 'svc:x:100:100::/:/bin/false\n' },
      { layer: 'b@1', text: 'svc:x:200:200::/:/bin/false\n' },
    ]);
    assert.deepEqual(clash.conflicts, ['svc (a@1 and b@1)']);
    const div = mergeState(sharedState('var/lib/dpkg/diversions')!, '', [{ layer: 'gcc@11', text: '/usr/bin/gcc\n/usr/bin/gcc.debian\n:\n' }]);
    assert.equal(div.text, '/usr/bin/gcc\n/usr/bin/gcc.debian\n:\n');
  });
  it('parses, writes and unites alternatives groups, choosing the highest priority', () => {
    const text = 'auto\n/usr/bin/cc\n\n/usr/bin/gcc-11\n30\n\n';
    assert.equal(serializeAlternatives(parseAlternatives(text)), text);
    const withSlave = 'auto\n/usr/bin/java\njava.1.gz\n/usr/share/man/man1/java.1.gz\n\n/usr/lib/jvm/17/bin/java\n1711\n/usr/lib/jvm/17/man/java.1.gz\n\n';
    assert.deepEqual(parseAlternatives(withSlave).choices, [{ path: '/usr/lib/jvm/17/bin/java', priority: 1711, slaves: ['/usr/lib/jvm/17/man/java.1.gz'] }]);
    const plan = planMergeLayer(new Map(), [
      { layer: 'gcc@11', files: new Map([['var/lib/dpkg/alternatives/cc', state('auto\n/usr/bin/cc\n\n/usr/bin/gcc-11\n30\n\n')]]) },
      { layer: 'x@1', files: new Map([['var/lib/dpkg/alternatives/cc', state('auto\n/usr/bin/cc\n\n/usr/bin/gcc-12\n20\n\n')]]) },
    ]);
    assert.deepEqual(plan.conflicts, []);
    assert.equal(plan.entries.find((e) => e.type === 'file')!.type, 'file');
    assert.deepEqual(plan.entries.find((e) => e.type === 'symlink'), { type: 'symlink', path: 'etc/alternatives/cc', linkname: '/usr/bin/gcc-11' });
  });
  it('a merge layer writes each touched file once, with its mode, and lists conflicts instead of guessing', () => {
    const root = new Map([['etc/shadow', state('root:*:1::::::\n', 0o640)]]);
    const plan = planMergeLayer(root, [
      { layer: 'a@1', files: new Map([['etc/shadow', state('root:*:1::::::\nsvc:!:1::::::\n', 0o640)], ['var/log/apt/history.log', state('x')]]) },
      { layer: 'b@1', files: new Map([['var/lib/dpkg/status', state(status(para('p', '1')))]]) },
      { layer: 'c@1', files: new Map([['var/lib/dpkg/status', state(status(para('p', '2')))]]) },
    ]);
    assert.deepEqual(plan.entries.map((e) => [e.type, e.path, e.type === 'file' ? e.mode : 0]), [['file', 'etc/shadow', 0o640]]);
    assert.deepEqual(plan.conflicts, ['/var/lib/dpkg/status: p:amd64 (b@1 and c@1)']);
  });
});

describe('layer conflicts', () => {
  it('names the path two layers write with different content, and accepts identical ones', () => {
    const { conflicts } = findConflicts([
      { layer: 'a@1', index: layer([dir('usr', { mode: 0o755 }), file('usr/share/doc/x', { sha256: 'same' }), file('opt/tool', { sha256: '1' })]) },
      { layer: 'b@1', index: layer([dir('usr'), file('usr/share/doc/x', { sha256: 'same' }), file('opt/tool', { sha256: '2' }), file('var/lib/dpkg/status', { sha256: '9' })]) },
    ]);
    assert.deepEqual(conflicts, [{ path: '/opt/tool', layers: ['a@1', 'b@1'], reason: 'different content' }]);
  });
  it('refuses a path one layer deletes and another writes', () => {
    const { conflicts } = findConflicts([
      { layer: 'a@1', index: layer([file('etc/app.conf')]) },
      { layer: 'b@1', index: layer([], { whiteouts: ['etc/app.conf'] }) },
    ]);
    assert.equal(conflicts[0]?.reason, 'deleted by b@1, written by a@1');
  });
});

describe('composed image config', () => {
  it('expands catalog env like a Dockerfile ENV, on the default PATH of an imported root', () => {
    const env = composeEnv(null, [{ JAVA_HOME: '/usr/lib/jvm/17' }, { PATH: '/opt/openssl-1.1/bin:$PATH', X: '${JAVA_HOME}/x', Y: '${NOPE:-dflt}' }], { GREETING: 'hi $USER' });
    assert.deepEqual(env, [`PATH=/opt/openssl-1.1/bin:${DEFAULT_PATH}`, 'JAVA_HOME=/usr/lib/jvm/17', 'X=/usr/lib/jvm/17/x', 'Y=dflt', 'GREETING=hi $USER']);
    assert.equal(expandEnv('$A$B', new Map([['A', '1']])), '1');
  });
  it('an entrypoint drops the root cmd; diff ids and history follow the layers', () => {
    const cfg = composeConfig({
      root: { config: { Cmd: ['bash'], Env: null }, rootfs: { type: 'layers', diff_ids: ['sha256:r'] }, history: [{ created_by: 'root' }] },
      layers: [{ mediaType: 'm', digest: 'sha256:d', size: 1, diffId: 'sha256:l', createdBy: 'kiln: component x@1' }],
      env: ['PATH=/bin'],
      entrypoint: ['/app'],
      labels: { 'dev.kiln.build-id': 'b' },
      created: '2026-01-01T00:00:00.000Z',
    });
    assert.deepEqual(cfg.config?.Cmd, null);
    assert.deepEqual(cfg.config?.Entrypoint, ['/app']);
    assert.deepEqual(cfg.rootfs.diff_ids, ['sha256:r', 'sha256:l']);
    assert.equal(cfg.history?.at(-1)?.created_by, 'kiln: component x@1');
  });
});

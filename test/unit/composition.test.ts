import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { composeConfig, composeEnv, DEFAULT_PATH, expandEnv } from '../../core/composition/image-config.ts';
import { placeBinary } from '../../core/composition/binary-placement.ts';
import { findConflicts } from '../../core/composition/layer-conflicts.ts';
import { classifyName, FsView, type IndexEntry, type LayerIndex } from '../../core/composition/layer-index.ts';
import { planMergeLayer, type StateFile } from '../../core/composition/merge-layer.ts';
import { parseRecord, serializeRecord } from '../../core/composition/layer-record.ts';
import { sharedState } from '../../core/composition/shared-state.ts';
import { mergeAptMarks, mergeState, parseAlternatives, serializeAlternatives } from '../../core/composition/state-merge.ts';

const para = (pkg: string, version: string) => `Package: ${pkg}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}`;
const status = (...ps: string[]) => `${ps.join('\n\n')}\n`;
const file = (path: string, extra: Partial<IndexEntry> = {}): IndexEntry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, sha256: 'a', ...extra });
const dir = (path: string, extra: Partial<IndexEntry> = {}): IndexEntry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, ...extra });
const layer = (entries: IndexEntry[], more: Partial<LayerIndex> = {}): LayerIndex => ({ entries, whiteouts: [], opaque: [], ...more });
const state = (text: string, mode = 0o644, mtime?: number): StateFile => ({ content: Buffer.from(text), mode, uid: 0, gid: 0, ...(mtime !== undefined ? { mtime } : {}) });
const autoMark = (pkg: string, arch = 'amd64') => `Package: ${pkg}\nArchitecture: ${arch}\nAuto-Installed: 1`;
const manualMark = (pkg: string) => `Package: ${pkg}\nArchitecture: amd64\nAuto-Installed: 0`;
const marked = (text: string) => [...text.matchAll(/^Package: (.+)$/gm)].map((m) => m[1]);

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

describe("apt's auto/manual marks", () => {
  // The root: libc6 installed by hand, zlib1g pulled in (auto).
  const rootStatus = status(para('libc6', '2.36'), para('zlib1g', '1.2'));
  const rootMarks = status(autoMark('zlib1g'));
  const withPkgs = (...ps: string[]) => status(para('libc6', '2.36'), para('zlib1g', '1.2'), ...ps.map((p) => para(p, '1')));

  it('a package one layer asked for by name stays manual though another pulled it in as a dependency', () => {
    // jdk@17's install pulled ca-certificates in (auto); openssl@3's asked for it (manual: no entry, as apt writes it).
    const r = mergeAptMarks({ marks: rootMarks, status: rootStatus }, [
      { layer: 'jdk@17', marks: status(autoMark('zlib1g'), autoMark('ca-certificates'), autoMark('libjpeg')), status: withPkgs('openjdk-17', 'ca-certificates', 'libjpeg') },
      { layer: 'openssl@3', marks: rootMarks, status: withPkgs('openssl', 'ca-certificates') },
    ]);
    assert.deepEqual(r.conflicts, []);
    assert.deepEqual(marked(r.text), ['libjpeg', 'zlib1g'], 'ca-certificates is manual (no entry); what only a dependency brought stays auto');
    // The three-way merge of the text alone (what kiln did before) lets the dependency win.
    const plain = mergeState({ merge: 'paragraphs', key: 'package' }, rootMarks, [
      { layer: 'jdk@17', text: status(autoMark('zlib1g'), autoMark('ca-certificates'), autoMark('libjpeg')) },
      { layer: 'openssl@3', text: rootMarks },
    ]);
    assert.deepEqual(marked(plain.text), ['ca-certificates', 'libjpeg', 'zlib1g']);
  });

  it("an explicit 'Auto-Installed: 0' is manual too, never a conflict with another layer's auto", () => {
    const r = mergeAptMarks({ marks: rootMarks, status: rootStatus }, [
      { layer: 'a@1', marks: status(autoMark('zlib1g'), autoMark('make')), status: withPkgs('make') },
      { layer: 'b@1', marks: status(autoMark('zlib1g'), manualMark('make')), status: withPkgs('make') },
    ]);
    assert.deepEqual(r.conflicts, []);
    assert.deepEqual(marked(r.text), ['zlib1g']);
  });

  it("a root package a layer marked manual becomes manual; one a layer removed loses its mark; dpkg's 'all' matches apt's native arch", () => {
    const r = mergeAptMarks({ marks: rootMarks, status: rootStatus }, [
      { layer: 'a@1', marks: status(), status: withPkgs() },
      { layer: 'b@1', marks: rootMarks, status: status(para('libc6', '2.36'), para('zlib1g', '1.2')) },
    ]);
    assert.deepEqual(marked(r.text), [], 'a@1 marked zlib1g manual');
    const removed = mergeAptMarks({ marks: rootMarks, status: rootStatus }, [{ layer: 'a@1', marks: rootMarks, status: status(para('libc6', '2.36')) }]);
    assert.deepEqual(marked(removed.text), []);
    const all = `Package: java-common\nStatus: install ok installed\nArchitecture: all\nVersion: 0.74`;
    const arch = mergeAptMarks({ marks: '', status: rootStatus }, [
      { layer: 'jdk@17', marks: status(autoMark('java-common')), status: status(para('libc6', '2.36'), para('zlib1g', '1.2'), all) },
      { layer: 'x@1', marks: '', status: status(para('libc6', '2.36'), para('zlib1g', '1.2'), all) },
    ]);
    assert.deepEqual(marked(arch.text), [], 'x@1 installed java-common (arch all) by name');
  });

  it('the merge layer reads the marks beside each layer\'s dpkg status', () => {
    const root = new Map([
      ['var/lib/dpkg/status', state(rootStatus)],
      ['var/lib/apt/extended_states', state(rootMarks)],
    ]);
    const plan = planMergeLayer(root, [
      { layer: 'gcc@12', files: new Map([['var/lib/dpkg/status', state(withPkgs('gcc-12', 'make'))], ['var/lib/apt/extended_states', state(status(autoMark('zlib1g'), autoMark('make')))]]) },
      { layer: 'openssl@1.1', files: new Map([['var/lib/dpkg/status', state(withPkgs('make'))]]) },
    ]);
    assert.deepEqual(plan.conflicts, []);
    const marks = plan.entries.find((e) => e.path === 'var/lib/apt/extended_states');
    assert.ok(marks?.type === 'file');
    assert.deepEqual(marked(marks.content.toString()), ['zlib1g'], 'make: asked for by openssl@1.1 (manual)');
  });
});

describe('merge layer times', () => {
  it('each merged file is dated by the newest layer that changed it, the rest by the newest layer; none by 1970', () => {
    const root = new Map([['etc/passwd', state('root:x:0:0::/root:/bin/sh\n', 0o644, 1_600_000_000)]]);
    const plan = planMergeLayer(
      root,
      [
        { layer: 'a@1', files: new Map([['etc/passwd', state('root:x:0:0::/root:/bin/sh\na:x:1:1::/:/bin/false\n', 0o644, 1_700_000_100)], ['var/lib/dpkg/status', state(status(para('a', '1')), 0o644, 1_700_000_100)]]) },
        { layer: 'b@1', files: new Map([['etc/passwd', state('root:x:0:0::/root:/bin/sh\nb:x:2:2::/:/bin/false\n', 0o644, 1_700_000_200)], ['var/lib/dpkg/status', state(status(para('b', '1')), 0o644, 1_700_000_050)]]) },
        { layer: 'c@1', files: new Map([['etc/shells', state('/bin/sh\n', 0o644, 1_700_000_300)]]) },
      ],
      new Map([['etc/ld.so.cache', state('cache', 0o644, 1_800_000_000)]]),
    );
    const times = Object.fromEntries(plan.entries.map((e) => [e.path, e.type === 'file' ? e.mtime : undefined]));
    assert.deepEqual(times, { 'etc/ld.so.cache': 1_700_000_300, 'etc/passwd': 1_700_000_200, 'etc/shells': 1_700_000_300, 'var/lib/dpkg/status': 1_700_000_100 });
    assert.equal(plan.mtime, 1_700_000_300, 'directories and the verification-made cache take the newest layer time, not the verification time');
    // A layer's record keeps its files' times; records made before kiln kept them read back without (1970, as before).
    const record = { index: layer([]), state: new Map<string, StateFile>([['etc/shells', state('/bin/sh\n', 0o644, 1_700_000_300)]]) };
    assert.equal(parseRecord(serializeRecord(record)).state.get('etc/shells')?.mtime, 1_700_000_300);
    const old = JSON.stringify({ version: 1, index: layer([]), state: { 'etc/shells': { content: Buffer.from('/bin/sh\n').toString('base64'), mode: 420, uid: 0, gid: 0 } } });
    assert.equal(parseRecord(old).state.get('etc/shells')?.mtime, undefined);
    assert.equal(planMergeLayer(new Map(), [{ layer: 'a@1', files: new Map([['etc/shells', state('/bin/sh\n')]]) }]).mtime, 0);
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

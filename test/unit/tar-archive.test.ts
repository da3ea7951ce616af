// The archive rules on their own: entry caps, names, links followed through the archive's own symlinks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArchiveRefused, inspectArchive, normalizeEntryName } from '../../core/tar-archive.ts';
import { makeTar, oddTypeflags, typeflagTar } from '../hostile/tar-fixtures.ts';

const limits = { maxEntries: 100, maxUnpackedBytes: 1024 * 1024 };
const chunks = (buf: Buffer) => (async function* () { for (let i = 0; i < buf.length; i += 1000) yield buf.subarray(i, i + 1000); })();
const refusal = async (buf: Buffer, l = limits) => {
  try {
    await inspectArchive(chunks(buf), l);
  } catch (err) {
    assert.ok(err instanceof ArchiveRefused, String(err));
    return err;
  }
  assert.fail('accepted');
};

describe('tar archive rules', () => {
  it('normalizes ./ prefixes and trailing slashes, and refuses what could escape', () => {
    assert.deepEqual(normalizeEntryName('./a/b/'), { path: 'a/b' });
    assert.deepEqual(normalizeEntryName('./'), { path: '' });
    for (const bad of ['/abs', 'a/../../b', '..', 'a//b', 'a/./b', 'a\nb', 'a\\..\\b', '']) assert.ok('problem' in normalizeEntryName(bad), bad);
  });

  it('refuses names image layers reserve for whiteouts (.wh.), in any path segment, naming the entry', async () => {
    for (const bad of ['.wh.info', 'var/.wh.info', '.wh..wh..opq', 'a/.wh..wh..opq', '.wh.dir/x']) assert.match((normalizeEntryName(bad) as { problem: string }).problem, /reserve for deletions/, bad);
    assert.deepEqual(normalizeEntryName('a.wh.b/.whx'), { path: 'a.wh.b/.whx' });
    const err = await refusal(await makeTar([{ name: 'status', content: 'x' }, { name: '.wh.info', content: '' }, { name: '.wh..wh..opq', content: '' }]));
    assert.equal(err.reason, 'entry');
    assert.deepEqual(err.entry, { index: 1, name: '.wh.info' });
  });

  it('caps the number of entries (413 material)', async () => {
    const tar = await makeTar(Array.from({ length: 101 }, (_, i) => ({ name: `f${i}`, content: '' })), { gzip: true });
    const err = await refusal(tar);
    assert.equal(err.reason, 'limit');
    assert.match(err.message, /more than 100 entries/);
    assert.equal((await inspectArchive(chunks(await makeTar(Array.from({ length: 100 }, (_, i) => ({ name: `f${i}`, content: '' })))), limits)).entries, 100);
  });

  it('caps the unpacked size even when every header is honest', async () => {
    const err = await refusal(await makeTar([{ name: 'a', content: Buffer.alloc(600_000) }, { name: 'b', content: Buffer.alloc(600_000) }], { gzip: true }));
    assert.equal(err.reason, 'limit');
  });

  it('follows symlinks through the archive: inside is fine, out is refused, wherever it is declared', async () => {
    const ok = await makeTar([{ name: 'd/', type: 'directory' }, { name: 'd/up', type: 'symlink', linkname: '..' }, { name: 'x', type: 'symlink', linkname: 'd/up/d' }]);
    assert.equal((await inspectArchive(chunks(ok), limits)).entries, 3);
    const out = await refusal(await makeTar([{ name: 'x', type: 'symlink', linkname: 'd/up/..' }, { name: 'd/up', type: 'symlink', linkname: '..' }]));
    assert.equal(out.entry?.name, 'x');
    assert.match(out.message, /escapes the target directory/);
  });

  it('refuses a file with an entry inside it, in either order, naming the later entry', async () => {
    const fileFirst = await refusal(await makeTar([{ name: 'a', content: 'x' }, { name: 'a/b', content: 'y' }]));
    assert.deepEqual(fileFirst.entry, { index: 1, name: 'a/b' });
    assert.match(fileFirst.message, /inside "a", which the archive holds as a file/);
    const deep = await refusal(await makeTar([{ name: 'd/', type: 'directory' }, { name: 'd/f', content: 'x' }, { name: 'd/f/g/h', content: 'y' }]));
    assert.deepEqual(deep.entry, { index: 2, name: 'd/f/g/h' });
    const hardlinked = await refusal(await makeTar([{ name: 'f', content: 'x' }, { name: 'h', type: 'link', linkname: 'f' }, { name: 'h/x', content: 'y' }]));
    assert.deepEqual(hardlinked.entry, { index: 2, name: 'h/x' });
    const insideFirst = await refusal(await makeTar([{ name: 'a/b', content: 'y' }, { name: 'a', content: 'x' }]));
    assert.deepEqual(insideFirst.entry, { index: 1, name: 'a' });
    assert.match(insideFirst.message, /earlier entries sit inside "a\/"/);
    // A directory stated after its contents, or twice, is still fine.
    const ok = await makeTar([{ name: 'a/b', content: 'y' }, { name: 'a/', type: 'directory' }, { name: 'a', type: 'directory' }]);
    assert.equal((await inspectArchive(chunks(ok), limits)).entries, 3);
  });

  it('refuses every typeflag that is not a file, directory, symlink or hardlink (GNU sparse, volume label, …)', async () => {
    for (const flag of oddTypeflags) {
      const err = await refusal(await typeflagTar(flag));
      assert.equal(err.reason, 'entry', flag);
      assert.deepEqual(err.entry, { index: 0, name: 'entry' }, flag);
      assert.match(err.message, /may hold only files, directories, symlinks and hardlinks/, flag);
    }
    // The same archive with a plain file typeflag passes: the refusal is about the type alone.
    assert.equal((await inspectArchive(chunks(await typeflagTar('0')), limits)).entries, 1);
  });

  it('names the entry at fault with its index', async () => {
    const err = await refusal(await makeTar([{ name: 'a', content: 'x' }, { name: 'b', content: 'y' }, { name: '../c', content: 'z' }]));
    assert.deepEqual(err.entry, { index: 2, name: '../c' });
  });
});

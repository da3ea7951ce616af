// Tar archives for tests, honest and hostile: made with tar-stream, which writes any header it is given.
import type { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';

export interface FixtureEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo' | 'contiguous-file';
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
}

export async function makeTar(entries: FixtureEntry[], opts: { gzip?: boolean } = {}): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = e.content === undefined ? undefined : Buffer.from(e.content);
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: e.name,
        type,
        mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
        mtime: new Date(1_700_000_000_000),
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
        ...(type === 'file' ? { size: content?.length ?? 0 } : {}),
      };
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file' && content) pack.entry(header, content, cb);
      else pack.entry(header, cb).end(undefined);
    });
  }
  pack.finalize();
  await done;
  const tar = Buffer.concat(chunks);
  return opts.gzip ? gzipSync(tar) : tar;
}

/** A gzip stream of `size` zero bytes as one tar entry: a bomb whose every header tells the truth. */
export function zeroBombTar(size: number, entries = 1): Promise<Buffer> {
  const each = Math.ceil(size / entries);
  return makeTar(Array.from({ length: entries }, (_, i) => ({ name: `zeros-${i}`, content: Buffer.alloc(each) })), { gzip: true });
}

/** Edits the first header of `tar` in place with `edit`, then writes its checksum again (so it still parses). */
function patchFirstHeader(tar: Buffer, edit: (header: Buffer) => void): Buffer {
  const header = tar.subarray(0, 512);
  edit(header);
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return tar;
}

/** One entry whose header claims `claimed` bytes (a tar bomb that lies), followed by only a block of data. */
export async function lyingSizeTar(claimed: number): Promise<Buffer> {
  const tar = await makeTar([{ name: 'big', content: Buffer.alloc(512, 0x61) }]);
  // GNU base-256 size field: the high bit set, then the number big-endian in the remaining 11 bytes.
  return patchFirstHeader(tar, (header) => {
    header.fill(0, 124, 136);
    header[124] = 0x80;
    header.writeUIntBE(claimed, 136 - 6, 6);
  });
}

/**
 * A one-file archive whose entry carries another typeflag: 'S' GNU sparse, 'V' volume label, 'M' multi-volume
 * continuation, 'D' GNU dump directory, 'X' Solaris extended header, '8'/'9'/'A'…'Z' reserved or vendor types.
 */
export async function typeflagTar(flag: string, opts: { gzip?: boolean } = {}): Promise<Buffer> {
  const tar = patchFirstHeader(await makeTar([{ name: 'entry', content: Buffer.alloc(100, 0x61) }]), (header) => header.write(flag, 156, 'latin1'));
  return opts.gzip ? gzipSync(tar) : tar;
}

/** Typeflags that are not file, directory, symlink or hardlink, and that tar-stream would hand over as entries. */
export const oddTypeflags = ['S', 'V', 'M', 'D', 'X', '8', '9', 'A', 'E', 'I', 'Z'];

/**
 * A gzipped tar of one file of `size` zero bytes, made as it is read (never held in memory): a small upload that
 * unpacks to a large layer on the engine.
 */
export function zeroFileArchive(name: string, size: number): Readable {
  const pack = tarPack();
  const entry = pack.entry({ name, size, mode: 0o644, mtime: new Date(1_700_000_000_000) }, (err) => (err ? pack.destroy(err) : pack.finalize()));
  const block = Buffer.alloc(1024 * 1024);
  let left = size;
  const fill = () => {
    while (left > 0) {
      const n = Math.min(left, block.length);
      left -= n;
      if (!entry.write(n === block.length ? block : block.subarray(0, n))) return void entry.once('drain', fill);
    }
    entry.end(undefined);
  };
  fill();
  return (pack as unknown as Readable).pipe(createGzip({ level: 1 }));
}

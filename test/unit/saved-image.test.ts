// The saved-image reader over the three formats engines write, on small archives made here, laid out (entry order,
// names, compression, symlinks, nested indexes) as Docker 20.10, Docker ≥ 25 on overlay2 and the containerd image
// store write them. Archives saved by the real engines are read in test/engines.test.ts.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { pack as tarPack, type Header } from 'tar-stream';
import { readSavedImage, SavedImageError, type SavedLayer } from '../../builder/saved-image.ts';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string) => d.slice('sha256:'.length);

type Entry = { name: string; body?: Buffer; type?: Header['type']; linkname?: string };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  const read = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: e.name, type: e.type ?? 'file', mode: 0o644, ...(e.linkname ? { linkname: e.linkname } : {}) }, e.body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await read;
  return Buffer.concat(chunks);
}

/** Three layers as an image builder would make them: a root, a component, one more step on top. */
async function layers() {
  const root = await tarOf([{ name: 'etc/', type: 'directory' }, { name: 'etc/os-release', body: Buffer.from('ID=debian\n') }]);
  const component = await tarOf([{ name: 'opt/', type: 'directory' }, { name: 'opt/.wh..wh..opq' }, { name: 'opt/tool', body: Buffer.from('tool v1\n') }]);
  // A layer whose first entry name starts with `{`: not to be taken for a JSON document.
  const top = await tarOf([{ name: '{weird}', body: Buffer.from('still a layer\n') }, { name: 'srv/app', body: Buffer.from('app\n') }]);
  return [root, component, top];
}

const configOf = (diffIds: string[]) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
const stream = (b: Buffer) => Readable.from([b]) as unknown as NodeJS.ReadableStream & { destroy(): void };
const sorted = (entries: Entry[]) => [...entries].sort((a, b) => (a.name < b.name ? -1 : 1)); // engines write names in order

/** Reads every layer: its entry names (from its own tar) and diffID. */
async function readAll(archive: Buffer, skip?: (e: { name: string; blobDigest?: string }) => boolean) {
  const seen: { name: string; compression: string; files: string[] }[] = [];
  const image = await readSavedImage(stream(archive), {
    ...(skip ? { skip } : {}),
    onLayer: async (layer: SavedLayer) => {
      const files: string[] = [];
      const { extract } = await import('tar-stream');
      const x = extract();
      const done = new Promise<void>((resolve, reject) => {
        x.on('entry', (h, s, next) => {
          files.push(h.name);
          s.on('end', next);
          s.resume();
        });
        x.on('finish', resolve);
        x.on('error', reject);
      });
      Readable.from(layer.tar).pipe(x);
      await done;
      seen.push({ name: layer.name, compression: layer.compression, files });
      return files;
    },
  });
  return { image, seen };
}

describe('saved images: every format an engine writes', () => {
  it('the legacy docker-archive (Docker < 25): <id>/layer.tar, a layer saved twice as a symlink, <config>.json', async () => {
    const [root, component, top] = await layers();
    // The same empty-ish layer twice (two steps that changed nothing the same way): the second copy is a symlink.
    const diffIds = [sha(root!), sha(component!), sha(root!), sha(top!)];
    const config = configOf(diffIds);
    const ids = ['a1', 'b2', 'c3', 'd4'].map((p) => p.repeat(32));
    const entries: Entry[] = [
      ...[root, component, root, top].flatMap((layer, i) => [
        { name: `${ids[i]}/`, type: 'directory' as const },
        { name: `${ids[i]}/VERSION`, body: Buffer.from('1.0') },
        { name: `${ids[i]}/json`, body: Buffer.from('{"id":"x"}') },
        i === 2 ? { name: `${ids[i]}/layer.tar`, type: 'symlink' as const, linkname: `../${ids[0]}/layer.tar` } : { name: `${ids[i]}/layer.tar`, body: layer! },
      ]),
      { name: `${hex(sha(config))}.json`, body: config },
      { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: `${hex(sha(config))}.json`, RepoTags: ['x:1'], Layers: ids.map((id) => `${id}/layer.tar`) }])) },
      { name: 'repositories', body: Buffer.from('{}') },
    ];
    const { image, seen } = await readAll(await tarOf(sorted(entries)));
    assert.equal(image.format, 'docker-archive');
    assert.equal(image.configDigest, sha(config));
    assert.deepEqual(image.layers.map((l) => l.diffId), diffIds);
    assert.deepEqual(image.layers.map((l) => l.entry), [`${ids[0]}/layer.tar`, `${ids[1]}/layer.tar`, `${ids[0]}/layer.tar`, `${ids[3]}/layer.tar`], 'the symlink resolved to the first copy');
    assert.deepEqual(image.layers.at(-1)!.result, ['{weird}', 'srv/app']);
    assert.equal(seen.length, 3, 'each layer read once');
  });

  it("Docker ≥ 25 on overlay2: an OCI layout with uncompressed blobs named by diffID, through manifest.json", async () => {
    const [root, component, top] = await layers();
    const diffIds = [sha(root!), sha(component!), sha(top!)];
    const config = configOf(diffIds);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: sha(config), size: config.length }, layers: diffIds.map((d) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: d })) }));
    const entries: Entry[] = [
      { name: 'blobs/', type: 'directory' },
      { name: 'blobs/sha256/', type: 'directory' },
      ...[root!, component!, top!, config, manifest].map((b) => ({ name: `blobs/sha256/${hex(sha(b))}`, body: b })),
      { name: 'index.json', body: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest) }] })) },
      { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: `blobs/sha256/${hex(sha(config))}`, RepoTags: ['x:1'], Layers: diffIds.map((d) => `blobs/sha256/${hex(d)}`) }])) },
      { name: 'oci-layout', body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    ];
    const archive = await tarOf(sorted(entries));
    const { image, seen } = await readAll(archive);
    assert.equal(image.format, 'oci-layout');
    assert.equal(image.configDigest, sha(config));
    assert.deepEqual(image.layers.map((l) => [l.diffId, l.read]), diffIds.map((d) => [d, true]));
    assert.deepEqual(image.layers.at(-1)!.result, ['{weird}', 'srv/app']);
    assert.deepEqual(seen.map((s) => s.compression), ['none', 'none', 'none']);

    // Layers whose names say they are below the top are passed over unread.
    const below = new Set(diffIds.slice(0, -1));
    const skipped = await readAll(archive, (e) => e.blobDigest !== undefined && below.has(e.blobDigest));
    assert.deepEqual(skipped.image.layers.map((l) => l.read), [false, false, true]);
    assert.deepEqual(skipped.seen.map((s) => s.name), [`blobs/sha256/${hex(diffIds[2]!)}`]);
  });

  it('the containerd image store: gzip blobs, an uncompressed root, index.json → image index → manifest, no manifest.json', async () => {
    const [root, component, top] = await layers();
    const diffIds = [sha(root!), sha(component!), sha(top!)];
    const gz = [zlib.gzipSync(component!), zlib.gzipSync(top!)];
    const config = configOf(diffIds);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
        layers: [
          { mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: sha(root!), size: root!.length },
          ...gz.map((g) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(g), size: g.length })),
        ],
      }),
    );
    // An attestation manifest beside the image (as buildx writes), which the reader must not take for the image.
    const attestation = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: sha(config) }, layers: [] }));
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(attestation), platform: { os: 'unknown', architecture: 'unknown' } },
        ],
      }),
    );
    const entries: Entry[] = [
      ...[root!, ...gz, config, manifest, attestation, index].map((b) => ({ name: `blobs/sha256/${hex(sha(b))}`, body: b })),
      { name: 'index.json', body: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha(index) }] })) },
      { name: 'oci-layout', body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    ];
    const { image, seen } = await readAll(await tarOf(sorted(entries)));
    assert.equal(image.format, 'oci-layout');
    assert.equal(image.configDigest, sha(config));
    assert.deepEqual(image.layers.map((l) => l.diffId), diffIds);
    assert.deepEqual(image.layers.map((l) => l.entry), [sha(root!), ...gz.map(sha)].map((d) => `blobs/sha256/${hex(d)}`));
    assert.deepEqual(image.layers.map((l) => l.compression), ['none', 'gzip', 'gzip']);
    assert.deepEqual(image.layers[1]!.result, ['opt/', 'opt/.wh..wh..opq', 'opt/tool']);
    assert.equal(seen.length, 3);
  });

  it('zstd-compressed layer blobs, where this Node.js can decompress them', { skip: !('createZstdCompress' in zlib) && 'Node.js without zstd' }, async () => {
    const [root] = await layers();
    const z = (zlib as unknown as { zstdCompressSync(b: Buffer): Buffer }).zstdCompressSync(root!);
    const config = configOf([sha(root!)]);
    const manifest = Buffer.from(JSON.stringify({ config: { digest: sha(config) }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: sha(z) }] }));
    const entries: Entry[] = [
      ...[z, config, manifest].map((b) => ({ name: `blobs/sha256/${hex(sha(b))}`, body: b })),
      { name: 'index.json', body: Buffer.from(JSON.stringify({ manifests: [{ digest: sha(manifest) }] })) },
    ];
    const { image } = await readAll(await tarOf(sorted(entries)));
    assert.deepEqual(image.layers.map((l) => [l.diffId, l.compression]), [[sha(root!), 'zstd']]);
  });

  it('refuses a layer whose bytes do not hash to the diffID its position has, and an archive without a manifest', async () => {
    const [root, component] = await layers();
    const config = configOf([sha(root!), sha(root!)]); // the config claims the root twice; the second entry holds something else
    const entries: Entry[] = [
      ...[root!, component!, config].map((b) => ({ name: `blobs/sha256/${hex(sha(b))}`, body: b })),
      { name: 'manifest.json', body: Buffer.from(JSON.stringify([{ Config: `blobs/sha256/${hex(sha(config))}`, Layers: [sha(root!), sha(component!)].map((d) => `blobs/sha256/${hex(d)}`) }])) },
    ];
    await assert.rejects(readAll(await tarOf(sorted(entries))), (err: Error) => err instanceof SavedImageError && /hashes to sha256:.*diffID sha256:/.test(err.message));
    await assert.rejects(readAll(await tarOf([{ name: `blobs/sha256/${hex(sha(root!))}`, body: root! }])), /has no index \(index\.json\)/);
  });
});

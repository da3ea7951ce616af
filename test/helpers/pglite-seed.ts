// The database a test kiln on PGlite starts from: an empty one with every migration applied, dumped once per suite run
// (per migration set and PGlite version) into the data dir. An initdb and the migrations in PGlite's WASM cost about
// 5 s of CPU, and the suite starts more than sixty test kilns on PGlite; loading the dump costs about 1.5 s. The
// migrations still run on every start (none is pending), so a stale dump could only cost time, never a missing table.
import { createHash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { MIGRATIONS_DIR } from '../../core/repo-paths.ts';

/** Every migration file (name and bytes, journal included) and PGlite's version: a change to either makes a new dump. */
async function seedKey(): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else hash.update(`${path.relative(MIGRATIONS_DIR, p)}\0`).update(await readFile(p)).update('\0');
    }
  };
  await walk(MIGRATIONS_DIR);
  const pkg = JSON.parse(await readFile(path.join(import.meta.dirname, '../../node_modules/@electric-sql/pglite/package.json'), 'utf8')) as { version: string };
  return hash.update(pkg.version).digest('hex').slice(0, 16);
}

async function makeSeed(file: string): Promise<void> {
  const db = new PGlite();
  try {
    await migrate(drizzle(db) as never, { migrationsFolder: MIGRATIONS_DIR });
    const dump = await db.dumpDataDir('none');
    await mkdir(path.dirname(file), { recursive: true });
    // Test files start at once: each writes its own copy and renames it into place (atomic; the last one wins).
    const partial = `${file}.${process.pid}.partial`;
    await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
    await rename(partial, file);
  } finally {
    await db.close();
  }
}

let seed: Promise<Blob> | undefined;

/** The dump, made by the first test process that needs it; a Blob read from the file as PGlite loads it. */
export function pgliteSeed(): Promise<Blob> {
  seed ??= (async () => {
    const file = path.join(process.env.KILN_DATA_DIR ?? tmpdir(), 'test-pglite-seed', `${await seedKey()}.tar`);
    if (!(await stat(file).catch(() => undefined))) await makeSeed(file);
    return openAsBlob(file);
  })();
  return seed;
}

// The checks a final image passes before it is pushed, for what a user's upload and binaryPath could break: the
// program the image starts (entrypoint, else cmd) still resolves — through PATH, through symlinks — to an executable
// file whose interpreter (`#!` line, an ELF's PT_INTERP) exists; and dpkg's state is sound when the binary wrote
// into it. Pure: a filesystem is read through `ProgramFs`; running dpkg is the builder's (builder/final-check.ts).
import { resolveInImage, type FsLookup } from './composition/binary-placement.ts';
import { DEFAULT_PATH } from './composition/image-config.ts';

/** A failed check: which one, and the image path at fault. */
export class ImageCheckFailed extends Error {
  constructor(
    readonly check: string,
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'ImageCheckFailed';
  }
}


/**
 * Where dpkg and apt keep their state (and their own programs): a binary layer writing under one of these makes
 * `dpkg --audit` and `apt-get check` part of the final check.
 */
export const DPKG_PATHS = ['var/lib/dpkg', 'var/lib/apt', 'etc/dpkg', 'etc/apt', 'usr/bin/dpkg', 'usr/bin/apt-get', 'usr/lib/apt'] as const;

/** The first of `paths` (no leading slash) inside dpkg's paths, if any. */
export function touchesDpkg(paths: Iterable<string>): string | undefined {
  for (const p of paths) {
    const clean = p.replace(/^\/+/, '').replace(/\/+$/, '');
    // A parent of dpkg's paths written as a directory entry (unpacking at /var) touches nothing by itself.
    if (DPKG_PATHS.some((d) => clean === d || clean.startsWith(`${d}/`))) return clean;
  }
  return undefined;
}

export type Interpreter = { kind: 'script'; path: string; arg?: string } | { kind: 'elf'; path: string };

/** A `#!` script's interpreter, or a dynamic ELF's PT_INTERP (32/64-bit, either byte order); undefined otherwise. */
export function interpreterOf(head: Buffer): Interpreter | undefined {
  if (head.subarray(0, 2).toString('latin1') === '#!') {
    const line = head.subarray(2, head.indexOf(0x0a) === -1 ? head.length : head.indexOf(0x0a)).toString('utf8').trim();
    const [path, ...rest] = line.split(/[ \t]+/);
    if (!path) return undefined;
    return { kind: 'script', path, ...(rest[0] ? { arg: rest[0] } : {}) };
  }
  if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const is64 = head[4] === 2;
  const le = head[5] !== 2;
  const u16 = (o: number) => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
  const u32 = (o: number) => (le ? head.readUInt32LE(o) : head.readUInt32BE(o));
  const u64 = (o: number) => Number(le ? head.readBigUInt64LE(o) : head.readBigUInt64BE(o));
  if (is64 && head.length < 64) return undefined;
  const phoff = is64 ? u64(0x20) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + (is64 ? 0x28 : 0x14) > head.length) return undefined; // beyond the bytes kept: not judged
    if (u32(at) !== 3) continue; // PT_INTERP
    const offset = is64 ? u64(at + 8) : u32(at + 4);
    const size = is64 ? u64(at + 0x20) : u32(at + 0x10);
    if (offset + size > head.length) return undefined;
    const path = head.subarray(offset, offset + size).toString('latin1').replace(/\0+$/, '');
    return path ? { kind: 'elf', path } : undefined;
  }
  return undefined; // static: no interpreter
}

/** The image's files as the program check reads them: entries and directories, and the first bytes of executables. */
export interface ProgramFs extends FsLookup {
  /** The first bytes of a file, when they are known (the binary layer keeps those of its executables). */
  head(path: string): Buffer | undefined;
}

/** `program` as the engine finds it: a name through PATH, a path from the working directory; undefined when absent. */
function findProgram(fs: ProgramFs, program: string, pathEnv: string, workdir: string): string | undefined {
  const candidates = program.includes('/')
    ? [program.startsWith('/') ? program : `${workdir}/${program}`]
    : pathEnv.split(':').filter((d) => d.startsWith('/')).map((d) => `${d}/${program}`);
  for (const c of candidates) {
    const resolved = resolveInImage(fs, c);
    const e = fs.get(resolved);
    if (e && (e.type === 'file' || e.type === 'link') && (e.mode & 0o111) !== 0) return resolved;
  }
  return undefined;
}

/**
 * Throws ImageCheckFailed unless `program` (entrypoint[0], else cmd[0]) resolves to an executable file whose
 * interpreter exists. A file whose first bytes are unknown (one the image already held) is judged by existence alone.
 */
export function checkProgram(fs: ProgramFs, program: string, opts: { path?: string; workdir?: string } = {}): void {
  const pathEnv = opts.path ?? DEFAULT_PATH;
  const found = findProgram(fs, program, pathEnv, opts.workdir || '/');
  if (!found) {
    throw new ImageCheckFailed('entrypoint', program, `the image's program "${program}" is not an executable file in the image${program.includes('/') ? '' : ` (searched PATH=${pathEnv})`}`);
  }
  const head = fs.head(found);
  const interp = head ? interpreterOf(head) : undefined;
  if (!interp) return;
  const what = interp.kind === 'script' ? `its #! line names` : `its ELF interpreter is`;
  if (!findProgram(fs, interp.path, pathEnv, '/') && !(interp.kind === 'elf' && fs.get(resolveInImage(fs, interp.path)))) {
    throw new ImageCheckFailed('interpreter', interp.path, `the image's program "${program}" (/${found}) cannot start: ${what} ${interp.path}, which is not in the image`);
  }
  // `#!/usr/bin/env python3`: env finds python3 through PATH.
  if (interp.kind === 'script' && interp.path.endsWith('/env') && interp.arg && !interp.arg.startsWith('-') && !findProgram(fs, interp.arg, pathEnv, '/')) {
    throw new ImageCheckFailed('interpreter', interp.arg, `the image's program "${program}" (/${found}) cannot start: its #! line runs "${interp.arg}" through env, which is not on PATH=${pathEnv}`);
  }
}

// The check of a user's final image before it is pushed (core/image-check.ts says what is checked and why). A composed
// image is judged from its filesystem view, with no engine, unless the binary wrote into dpkg's state: then dpkg runs
// in a container of the composed base with the binary layer put in. An installed image is judged in containers of
// the built image. A failure is a BuildFailure that names the check and the path; nothing is pushed.
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { FsView } from '../core/composition/layer-index.ts';
import { checkProgram, ImageCheckFailed, interpreterOf, touchesDpkg } from '../core/image-check.ts';
import { BuildFailure } from './build-errors.ts';
import type { BinaryLayerRecord } from './composer.ts';
import { parseVerification, runToEnd } from './verification-run.ts';

const MARK = '@@kiln-final';

export interface StartSettings {
  entrypoint?: string[] | undefined;
  cmd?: string[] | undefined;
  /** The image's environment (K=V), for PATH. */
  env: readonly string[];
  workdir?: string | undefined;
}

const program = (s: StartSettings) => s.entrypoint?.[0] ?? s.cmd?.[0];
const pathOf = (env: readonly string[]) => env.find((e) => e.startsWith('PATH='))?.slice(5);

export function failure(err: ImageCheckFailed): BuildFailure {
  return new BuildFailure(`final image check "${err.check}" failed at ${err.path}: ${err.message}`, false);
}

/** The composed image's program, judged on the view beneath with the binary layer applied. */
export function checkComposedProgram(view: FsView, layer: BinaryLayerRecord, start: StartSettings): void {
  const prog = program(start);
  if (!prog) return;
  view.apply(layer.index());
  try {
    checkProgram({ get: (p) => view.get(p), hasDir: (p) => view.hasDir(p), head: (p) => layer.heads.get(p) }, prog, { ...(pathOf(start.env) ? { path: pathOf(start.env)! } : {}), ...(start.workdir ? { workdir: start.workdir } : {}) });
  } catch (err) {
    throw err instanceof ImageCheckFailed ? failure(err) : err;
  }
}

/** dpkg's own verdict: `dpkg --audit` prints problems (its status is 0 either way); `apt-get check` fails on them. */
const DPKG_SCRIPT = [
  `dpkg --audit > /tmp/kiln-audit 2>&1; if [ -s /tmp/kiln-audit ]; then echo "${MARK} dpkg-audit 1"; cat /tmp/kiln-audit; else echo "${MARK} dpkg-audit 0"; fi`,
  `apt-get check > /tmp/kiln-check 2>&1; echo "${MARK} apt-get-check $?"; tail -c 2000 /tmp/kiln-check`,
].join('\n');

/** Throws a BuildFailure naming `dpkg --audit` / `apt-get check` when either finds dpkg's state broken. */
function judgeDpkg(output: string, touched: string): void {
  const failed = parseVerification(output.replaceAll(MARK, '@@kiln-check'));
  if (failed.length === 0) return;
  const f = failed[0]!;
  const check = f.check === 'dpkg-audit' ? 'dpkg --audit' : 'apt-get check';
  throw failure(new ImageCheckFailed(check, `/${touched}`, `the binary layer writes /${touched}, and ${check} finds dpkg's state broken: ${f.output.slice(0, 600)}`));
}

/** Runs `script` (sh) in a fresh container of `image`, no network; `layer`: a tar put at / before it starts. */
export async function runInImage(docker: Docker, image: string, script: string, opts: { env?: string[]; layer?: () => AsyncIterable<Buffer>; signal: AbortSignal }): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    Entrypoint: ['sh', '-c', script],
    Cmd: [],
    Env: opts.env ?? [],
    HostConfig: { NetworkMode: 'none' },
    Labels: { 'dev.kiln.final-check': 'true' },
  });
  const stop = () => void container.remove({ force: true }).catch(() => undefined);
  opts.signal.addEventListener('abort', stop, { once: true });
  try {
    if (opts.layer) await container.putArchive(Readable.from(opts.layer()) as unknown as NodeJS.ReadableStream, { path: '/' });
    const output = await runToEnd(container);
    opts.signal.throwIfAborted();
    return output;
  } finally {
    opts.signal.removeEventListener('abort', stop);
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/** A composed image whose binary layer wrote into dpkg's state: dpkg judges it in `base` with the layer put in. */
export async function checkComposedDpkg(docker: Docker, base: string, layer: BinaryLayerRecord, relayer: () => AsyncIterable<Buffer>, signal: AbortSignal): Promise<void> {
  const touched = touchesDpkg(layer.entries.filter((e) => e.type !== 'dir').map((e) => e.path));
  if (!touched) return;
  judgeDpkg(await runInImage(docker, base, DPKG_SCRIPT, { layer: relayer, signal }), touched);
}

/**
 * An installed image (`imageId`, on the engine): its program found as the engine would (PATH from the image's own
 * environment), its first bytes read for the interpreter, then the interpreter's presence and, when the binary wrote
 * into dpkg's paths, dpkg's verdict — two short containers.
 */
export async function checkInstalledImage(docker: Docker, imageId: string, start: StartSettings, written: readonly string[], signal: AbortSignal): Promise<void> {
  const prog = program(start);
  const touched = touchesDpkg(written);
  let second = '';
  if (prog) {
    const find = [
      'set -u',
      'p="$KILN_PROGRAM"',
      'case "$p" in */*) ;; *) p=$(command -v -- "$p") || p="";; esac',
      `if [ -z "$p" ] || [ ! -f "$p" ] || [ ! -x "$p" ]; then echo "${MARK} missing"; exit 0; fi`,
      `echo "${MARK} found $(readlink -f -- "$p")"`,
      'head -c 4096 -- "$p" | od -An -v -tx1',
    ].join('\n');
    const out = await runInImage(docker, imageId, find, { env: [`KILN_PROGRAM=${prog}`], signal });
    const found = new RegExp(`^${MARK} found (.*)$`, 'm').exec(out)?.[1];
    if (!found) {
      throw failure(new ImageCheckFailed('entrypoint', prog, `the image's program "${prog}" is not an executable file in the image${prog.includes('/') ? '' : ' (searched its PATH)'}`));
    }
    const hex = out.slice(out.indexOf('\n', out.indexOf(`${MARK} found`)) + 1).replace(/[^0-9a-f]/g, '');
    const interp = interpreterOf(Buffer.from(hex, 'hex'));
    if (interp) {
      second += `if [ -e ${JSON.stringify(interp.path)} ]; then echo "${MARK} interpreter 0"; else echo "${MARK} interpreter 1"; fi\n`;
      second += `echo ${JSON.stringify(`${MARK}-interp ${interp.path} ${found}`)}\n`;
    }
  }
  if (touched) second += `${DPKG_SCRIPT}\n`;
  if (!second) return;
  const out = await runInImage(docker, imageId, second, { signal });
  if (new RegExp(`^${MARK} interpreter 1$`, 'm').test(out)) {
    const [, interp = '', found = ''] = new RegExp(`^${MARK}-interp (\\S+) (.*)$`, 'm').exec(out) ?? [];
    throw failure(new ImageCheckFailed('interpreter', interp, `the image's program "${prog}" (${found}) cannot start: its interpreter ${interp} is not in the image`));
  }
  if (touched) judgeDpkg(out.replace(new RegExp(`^${MARK} interpreter \\d$`, 'm'), ''), touched);
}

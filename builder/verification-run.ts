// Proves a composed image on the engine before any user image is made of it: in one container (no network) it runs
// ldconfig — the linker cache is the one shared file a tool must make, from the composed files — then every
// component's smoke test, `dpkg --audit` and `apt-get check`; and it hands back the linker cache it made.
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { pack as tarPack } from 'tar-stream';
import type { StateFile } from '../core/composition/merge-layer.ts';
import { walkTar } from '../core/tar-archive.ts';

export interface VerificationResult {
  /** component key (or `dpkg --audit`, `apt-get check`) → what failed and its output's tail. */
  failures: { check: string; output: string }[];
  /** Files ldconfig made (path without leading slash → file), for the merge layer. */
  regenerated: Map<string, StateFile>;
  output: string;
}

const MARK = '@@kiln-check';
export const REGENERATED = ['etc/ld.so.cache', 'var/cache/ldconfig/aux-cache'] as const;

/** The script the container runs: each check in its own shell, its status on a marker line, then its output. */
export function verificationScript(smokes: { key: string }[]): string {
  const lines = ['set -u', 'ldconfig', 'cd /'];
  smokes.forEach((s, i) => {
    lines.push(`( sh -eu /kiln-verify/smoke-${i}.sh ) > /kiln-verify/out-${i} 2>&1; echo "${MARK} ${s.key} $?"; tail -c 2000 /kiln-verify/out-${i}`);
  });
  // dpkg --audit answers 0 even when it finds problems: what it prints is the verdict.
  lines.push(`dpkg --audit > /kiln-verify/audit 2>&1; if [ -s /kiln-verify/audit ]; then echo "${MARK} dpkg-audit 1"; cat /kiln-verify/audit; else echo "${MARK} dpkg-audit 0"; fi`);
  lines.push(`apt-get check > /kiln-verify/check 2>&1; echo "${MARK} apt-get-check $?"; tail -c 2000 /kiln-verify/check`);
  return `${lines.join('\n')}\n`;
}

/** Reads the marker lines: every check that did not end 0, with the output that followed it. */
export function parseVerification(output: string): { check: string; output: string }[] {
  const failures: { check: string; output: string }[] = [];
  const parts = output.split(new RegExp(`^${MARK} `, 'm')).slice(1);
  for (const part of parts) {
    const [head = '', ...rest] = part.split('\n');
    const m = /^(\S+) (\d+)$/.exec(head.trim());
    if (!m) continue;
    if (m[2] !== '0') failures.push({ check: m[1]!, output: rest.join('\n').trim().slice(-2000) });
  }
  return failures;
}

async function filesTar(files: Record<string, string>): Promise<Buffer> {
  const pack = tarPack();
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o755 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Runs the checks in a container of `image` (already on the engine); always removes the container. */
export async function runVerification(
  docker: Docker,
  image: string,
  opts: { env: string[]; smokes: { key: string; script: string }[]; signal: AbortSignal; onOutput?: (text: string) => void },
): Promise<VerificationResult> {
  const files: Record<string, string> = { 'kiln-verify/run.sh': verificationScript(opts.smokes) };
  opts.smokes.forEach((s, i) => (files[`kiln-verify/smoke-${i}.sh`] = s.script));
  const container = await docker.createContainer({
    Image: image,
    Entrypoint: ['sh'],
    Cmd: ['/kiln-verify/run.sh'],
    Env: opts.env,
    Tty: false,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: { NetworkMode: 'none' },
    Labels: { 'dev.kiln.verification': 'true' },
  });
  const stop = () => void container.remove({ force: true }).catch(() => undefined);
  opts.signal.addEventListener('abort', stop, { once: true });
  try {
    await container.putArchive(await filesTar(files), { path: '/' });
    const output = await runToEnd(container, opts.onOutput);
    opts.signal.throwIfAborted();
    const regenerated = new Map<string, StateFile>();
    for (const p of REGENERATED) regenerated.set(p, await readFile(container, `/${p}`));
    return { failures: parseVerification(output), regenerated, output };
  } finally {
    opts.signal.removeEventListener('abort', stop);
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/**
 * Starts a created container and waits for it to exit; its stdout and stderr as one text, in the order written
 * (attached before the start, so nothing a short script prints is missed), each chunk also given to `onOutput`.
 */
export async function runToEnd(container: Docker.Container, onOutput?: (text: string) => void): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => {
    chunks.push(c);
    onOutput?.(c.toString('utf8'));
  });
  const stream = await container.attach({ stream: true, stdout: true, stderr: true });
  container.modem.demuxStream(stream, out, out);
  const ended = new Promise((resolve) => stream.once('end', resolve));
  await container.start();
  await container.wait();
  await ended;
  return Buffer.concat(chunks).toString('utf8');
}

/** One file out of a (stopped) container, with its mode and owner; null when it does not exist. */
async function readFile(container: Docker.Container, path: string): Promise<StateFile> {
  let archive: NodeJS.ReadableStream;
  try {
    archive = (await container.getArchive({ path })) as unknown as NodeJS.ReadableStream;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return null;
    throw err;
  }
  let file: StateFile = null;
  await walkTar(archive as NodeJS.ReadableStream & { destroy(): void }, async (header, body) => {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c);
    if (header.type === 'file' || header.type === undefined) file = { content: Buffer.concat(chunks), mode: (header.mode ?? 0o644) & 0o7777, uid: header.uid ?? 0, gid: header.gid ?? 0 };
  });
  return file;
}

// User values whose Dockerfile line is exactly as long as a test asks, each value within its own limit: the way to
// stand right at the engine's line limit (core/dockerfile-lines.ts) from either side.
import { execInstruction, userEnvInstruction } from '../../core/dockerfile-lines.ts';

const bytes = (s: string | undefined) => Buffer.byteLength(s ?? '');

/** Env of 8000-character values whose ENV line is exactly `size` bytes. */
export function envWithLineBytes(size: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; bytes(userEnvInstruction(env)) < size; i++) env[`K${String(i).padStart(2, '0')}`] = 'x'.repeat(8000);
  const last = Object.keys(env).at(-1)!;
  env[last] = env[last]!.slice(0, env[last]!.length - (bytes(userEnvInstruction(env)) - size));
  if (bytes(userEnvInstruction(env)) !== size) throw new Error(`no env line of ${size} bytes`);
  return env;
}

/** Exec-form arguments of 4000 characters whose ENTRYPOINT (or CMD) line is exactly `size` bytes. */
export function argsWithLineBytes(keyword: 'ENTRYPOINT' | 'CMD', size: number): string[] {
  const args: string[] = [];
  while (bytes(execInstruction(keyword, args)) < size) args.push('x'.repeat(4000));
  args[args.length - 1] = args.at(-1)!.slice(0, 4000 - (bytes(execInstruction(keyword, args)) - size));
  if (bytes(execInstruction(keyword, args)) !== size) throw new Error(`no ${keyword} line of ${size} bytes`);
  return args;
}

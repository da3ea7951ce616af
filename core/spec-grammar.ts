// Strict grammars for every user string that reaches an image: what does not match is refused, never escaped into shape.
import { RESERVED_NAMES, reservedNameOf } from './kiln-repositories.ts';

/** One path component of a repository name, as the OCI distribution spec defines it. */
const repoComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const repository = new RegExp(`^${repoComponent}(?:/${repoComponent})*$`);
const tag = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const envKey = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const pathSegment = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
// Control characters never belong in env values or exec arguments (a newline would end a Dockerfile line).
const controlChars = /[\u0000-\u0008\u000a-\u001f\u007f]/;
// A lone UTF-16 surrogate is not text: it cannot be encoded as UTF-8 (a Dockerfile) or stored in JSON (Postgres jsonb).
const loneSurrogate = /\p{Cs}/u;

export interface ImageName {
  repository: string;
  tag: string;
}

/** `repository:tag` → parts, or a message saying what is wrong. */
export function parseImageName(value: string): ImageName | string {
  const i = value.lastIndexOf(':');
  if (i <= 0) return 'must be repository:tag, e.g. team/app:1.0';
  const repo = value.slice(0, i);
  const t = value.slice(i + 1);
  if (repo.length > 200) return 'repository is longer than 200 characters';
  if (!repository.test(repo)) return `repository "${repo}" must be lowercase path components ([a-z0-9] separated by . _ - or /)`;
  if (!tag.test(t)) return `tag "${t}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
  return { repository: repo, tag: t };
}

export function checkBinaryPath(value: string): string | undefined {
  if (!value.startsWith('/')) return 'must be an absolute path, e.g. /opt/app/app.jar';
  if (value.length > 255) return 'is longer than 255 characters';
  const segments = value.slice(1).split('/');
  for (const s of segments) {
    if (s === '' || s === '.' || s === '..') return 'must not contain empty, "." or ".." segments';
    if (!pathSegment.test(s)) return `segment "${s}" may only use letters, digits, ".", "_" and "-"`;
  }
  return undefined;
}

export function checkEnvKey(key: string): string | undefined {
  return envKey.test(key) ? undefined : `"${key}" is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)`;
}

export function checkPlainText(value: string, max: number): string | undefined {
  if (value.length > max) return `is longer than ${max} characters`;
  if (controlChars.test(value)) return 'must not contain control characters (newlines, NUL, …)';
  if (loneSurrogate.test(value)) return 'must be valid Unicode (it has a lone UTF-16 surrogate)';
  return undefined;
}

/**
 * A project name is one repository path component (it becomes the image namespace), at most 63 characters, and not
 * one of the repositories kiln pushes its own images to (a project of that name would share their path and could
 * replace the images other builds start FROM or are assembled from) — nor a look-alike of one.
 */
export function checkProjectName(value: string): string | undefined {
  if (value.length > 63) return 'is longer than 63 characters';
  const reserved = reservedNameOf(value);
  if (reserved) return `"${value}" is reserved for kiln's own images: it reads as ${reserved} (reserved in any case and with any separators: ${RESERVED_NAMES.join(', ')})`;
  return new RegExp(`^${repoComponent}$`).test(value) ? undefined : 'must be lowercase letters and digits, separated by ".", "_" or "-", e.g. team-a';
}

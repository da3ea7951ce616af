// GitHub's webhook signature convention: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { textProblem } from '../db/storable-values.ts';
import { ValidationError } from '../errors.ts';

export function generateWebhookSecret(): string {
  return randomBytes(32).toString('hex');
}

export function signPayload(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** True only for a well-formed header whose HMAC matches; compared in constant time so timing reveals nothing. */
export function verifySignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header || !/^sha256=[0-9a-f]{64}$/i.test(header)) return false;
  const expected = Buffer.from(signPayload(secret, body).slice('sha256='.length), 'hex');
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * The commit a push delivery is about: `head_commit.id`, else `after` (GitHub's push payload). Undefined when there is
 * none, or when `after` is all zeros (a deleted branch): nothing to build.
 */
export function pushCommitId(payload: unknown): string | undefined {
  const p = payload as { head_commit?: { id?: unknown } | null; after?: unknown } | null;
  const id = typeof p?.head_commit?.id === 'string' ? p.head_commit.id : typeof p?.after === 'string' ? p.after : undefined;
  if (!id || /^0+$/.test(id)) return undefined;
  return id;
}

/**
 * The pushed repository's web address (`repository.html_url`, GitLab's `project.web_url`), if it is an http(s) URL.
 * It becomes the image's source label and is stored with the build: an address that is not well-formed text (a
 * control character, a lone surrogate) is refused, naming the field; any other kind of address is left out.
 */
export function pushSourceUrl(payload: unknown): string | undefined {
  const p = payload as { repository?: { html_url?: unknown } | null; project?: { web_url?: unknown } | null } | null;
  const [field, url] =
    typeof p?.repository?.html_url === 'string' ? ['body.repository.html_url', p.repository.html_url] : typeof p?.project?.web_url === 'string' ? ['body.project.web_url', p.project.web_url] : [];
  if (!field || url === undefined) return undefined;
  const problem = textProblem(url);
  if (problem) throw new ValidationError([{ field, message: problem }]);
  return url.length <= 500 && /^https?:\/\/[^\s]+$/.test(url) ? url : undefined;
}

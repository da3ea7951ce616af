// API tokens as values: how one is made, and the only form in which kiln keeps it (a hash).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** `kiln_` + 256 random bits (base64url): the prefix lets secret scanners and people recognise a leaked token. */
export function generateToken(): string {
  return `kiln_${randomBytes(32).toString('base64url')}`;
}

/**
 * Hex sha256 of a token. A fast hash is enough here: a token has 256 random bits, so nothing can be guessed from its
 * hash, and a slow password hash would only add its cost to every request.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of two tokens (through their hashes, which have equal lengths by construction). */
export function sameToken(a: string, b: string): boolean {
  return timingSafeEqual(Buffer.from(hashToken(a), 'hex'), Buffer.from(hashToken(b), 'hex'));
}

/** `Authorization: Bearer <token>` → the token, or undefined when the header is missing or of another scheme. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

// Values the database stores as they were given, checked before they get there: a value PostgreSQL (and PGlite) would
// refuse — a year it cannot hold, a `real` that underflows, text that is not well-formed Unicode — is the request's
// fault and is refused with 400 naming its field, never left to fail an insert or a query with a 500. The zod schemas
// of the api build on these rules, so every route holds the same limits.
import { z } from 'zod';

/** `timestamptz` holds far more, but kiln's own dates (and ISO 8601's four-digit years) fit 0001–9999. */
export const EARLIEST_DATE = new Date('0001-01-01T00:00:00.000Z');
export const LATEST_DATE = new Date('9999-12-31T23:59:59.999Z');

/** What is wrong with `d` as a stored or compared date, or undefined. Checked in UTC: an offset can move the year. */
export function dateProblem(d: Date): string | undefined {
  const t = d.getTime();
  if (Number.isNaN(t)) return 'is not a date';
  if (t < EARLIEST_DATE.getTime() || t > LATEST_DATE.getTime()) return 'must be a date in the years 0001–9999 (UTC)';
  return undefined;
}

/** An ISO 8601 date-time with an offset (or Z), in the years 0001–9999. */
export const storableDateTime = () =>
  z.iso.datetime({ offset: true }).refine((text) => dateProblem(new Date(text)) === undefined, { error: 'must be a date in the years 0001–9999 (UTC)' });

// A `real` (float4) keeps 0 and magnitudes from FLT_MIN to FLT_MAX; below, the value underflows and is refused.
const FLOAT4_MIN = 1.1754944e-38;
const FLOAT4_MAX = 3.4028234e38;

/** A finite number a `real` column stores without underflow or overflow. */
export const storableReal = () =>
  z
    .number()
    .refine((x) => x === 0 || (Math.abs(x) >= FLOAT4_MIN && Math.abs(x) <= FLOAT4_MAX), { error: `must be 0 or between ${FLOAT4_MIN} and ${FLOAT4_MAX} in size` });

// C0 controls, DEL and C1 controls (a raw ESC or CSI would reach labels and terminals); a lone UTF-16 surrogate cannot
// be encoded as UTF-8 at all, and Postgres refuses it in text and jsonb alike.
// eslint-disable-next-line no-control-regex
const controlCharacter = /[\u0000-\u001f\u007f-\u009f]/;
const loneSurrogate = /\p{Cs}/u;

/** What keeps `value` from being stored and shown as one line of text, or undefined. */
export function textProblem(value: string): string | undefined {
  if (loneSurrogate.test(value)) return 'must be well-formed Unicode (it has a lone UTF-16 surrogate)';
  if (controlCharacter.test(value)) return 'must not contain control characters (newlines, tabs, ESC, NUL, …)';
  return undefined;
}

/**
 * For `.refine(...storableTextRule)` on any string schema: one line of well-formed text. Put it before checks that
 * rewrite the value (zod's url() drops tabs and newlines silently): it must see the text as it was sent.
 */
export const storableTextRule = [(v: string) => textProblem(v) === undefined, { error: (issue: { input?: unknown }) => textProblem(String(issue.input)) ?? 'is invalid', abort: true }] as const;

/** One line of well-formed text, without control characters. */
export const storableText = () => z.string().refine(...storableTextRule);

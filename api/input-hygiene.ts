// Text kiln can store and render, on every route: JSON bodies must be valid UTF-8, and no string anywhere in a body,
// query or path (keys included) may hold NUL or a lone UTF-16 surrogate — Postgres refuses both (text and jsonb),
// and neither is text a Dockerfile or a log can carry. Refused with 400 naming the field, before any schema runs.
import type { FastifyInstance } from 'fastify';
import { ValidationError, type Problem } from '../core/errors.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
// eslint-disable-next-line no-control-regex
const unstorable = /\u0000|\p{Cs}/u;

const problemOf = (value: string): string | undefined => {
  const m = unstorable.exec(value);
  if (!m) return undefined;
  return m[0] === '\u0000' ? 'must not contain NUL characters' : 'must be valid Unicode (it has a lone UTF-16 surrogate)';
};

const isContainer = (v: unknown): v is Record<string, unknown> | unknown[] => {
  if (Array.isArray(v)) return true;
  if (v === null || typeof v !== 'object') return false;
  // Parsed JSON (plain objects) and query strings (objects whose prototype has no prototype); never a stream or Buffer.
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null || Object.getPrototypeOf(proto) === null;
};

/** Problems of every string in `root` (walked without recursion: a body may nest deeply), at most 20. */
export function unstorableStrings(root: unknown, rootField = ''): Problem[] {
  const problems: Problem[] = [];
  const stack: { value: unknown; field: string }[] = [{ value: root, field: rootField }];
  while (stack.length > 0 && problems.length < 20) {
    const { value, field } = stack.pop()!;
    if (typeof value === 'string') {
      const p = problemOf(value);
      if (p) problems.push({ field: field || 'body', message: p });
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push({ value: v, field: `${field}[${i}]` }));
    } else if (isContainer(value)) {
      for (const [k, v] of Object.entries(value)) {
        const at = field ? `${field}.${k}` : k;
        const p = problemOf(k);
        if (p) problems.push({ field: at, message: `key ${p}` });
        stack.push({ value: v, field: at });
      }
    }
  }
  return problems;
}

export function installInputHygiene(app: FastifyInstance): void {
  // fastify's JSON parser decodes invalid UTF-8 into U+FFFD silently; a value must arrive as sent, or be refused.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      done(new ValidationError([{ field: 'body', message: 'is not valid UTF-8' }]), undefined);
      return;
    }
    parseJson(req, text, done);
  });

  app.addHook('preValidation', async (req) => {
    const problems = [...unstorableStrings(req.params), ...unstorableStrings(req.query), ...unstorableStrings(req.body)];
    if (problems.length > 0) throw new ValidationError(problems);
  });
}

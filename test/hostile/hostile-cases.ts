// The hostile suite's case machinery, shared by its files: a case sends one request and says what must come back —
// a refusal naming the field at fault, an acceptance checked further, or either — and a run checks them all, never
// accepting a 5xx, and reports every case that failed at once.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Target } from '../helpers/api-client.ts';

export interface Answer {
  status: number;
  body: { problems?: { field: string; message: string }[]; detail?: string; id?: string } & Record<string, unknown>;
  type: string;
}

/** What a case expects: refused naming a field (string, pattern or predicate), or accepted (and then checked). */
export type Expect =
  | { refused: string | RegExp | ((field: string) => boolean); status?: number }
  | { accepted: (a: Answer) => Promise<void> | void }
  | { either: (a: Answer) => Promise<void> | void };

export interface Case {
  name: string;
  send: () => Promise<Answer>;
  expect: Expect;
}

const parseBody = (text: string): Answer['body'] => {
  try {
    return JSON.parse(text) as Answer['body'];
  } catch {
    return { detail: text };
  }
};

export async function answer(res: Response): Promise<Answer> {
  return { status: res.status, body: parseBody(await res.text()), type: res.headers.get('content-type') ?? '' };
}

/** A request fetch cannot make (bad bytes in the path, odd headers): straight over a socket. */
export function rawRequest(target: Target, opts: { method: string; path: string; headers?: Record<string, string>; body?: Buffer }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(target.url);
    const req = http.request({ host: url.hostname, port: url.port, method: opts.method, path: opts.path, headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: parseBody(Buffer.concat(chunks).toString('utf8')), type: String(res.headers['content-type'] ?? '') }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Runs every case in order; asserts none failed (listing all that did) and none answered 5xx. */
export async function runCases(cases: Case[]): Promise<void> {
  const failures: string[] = [];
  let fiveHundreds = 0;
  for (const c of cases) {
    try {
      const a = await c.send();
      if (a.status >= 500) fiveHundreds++;
      assert.ok(a.status < 500, `5xx: ${a.status} ${JSON.stringify(a.body)}`);
      if ('refused' in c.expect) {
        if (c.expect.status !== undefined) assert.equal(a.status, c.expect.status, JSON.stringify(a.body));
        assert.ok(a.status >= 400 && a.status < 500, `expected a refusal, got ${a.status} ${JSON.stringify(a.body)}`);
        assert.match(a.type, /application\/problem\+json/);
        const fields = (a.body.problems ?? []).map((p) => p.field);
        const want = c.expect.refused;
        const matches = (f: string) => (typeof want === 'string' ? f === want : want instanceof RegExp ? want.test(f) : want(f));
        assert.ok(fields.length > 0 && fields.some(matches), `fields ${JSON.stringify(fields)} do not name ${String(want)}: ${a.body.detail}`);
      } else if ('accepted' in c.expect) {
        await c.expect.accepted(a);
      } else {
        await c.expect.either(a);
      }
    } catch (err) {
      failures.push(`${c.name}: ${(err as Error).message.split('\n').slice(0, 4).join(' ')}`);
    }
  }
  // Every failure on a line of its own (an assertion diff would cut a long list short).
  if (failures.length > 0) assert.fail(`${failures.length} of ${cases.length} cases failed:\n${failures.join('\n')}`);
  assert.equal(fiveHundreds, 0, 'no 5xx');
}

// `Expect: 100-continue` over a plain socket, as curl sends a large upload: a client that asks before sending its body
// hears `100 Continue` only when kiln will read the body. A request kiln refuses anyway (no token, a body over the
// limit, a delivery to no webhook) gets its refusal as the first and only answer, so the client never sends the body.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { rawExchange, within } from './helpers/raw-http.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

const LIMIT = 1024 * 1024;

/** Sends the head only, and returns the first status line kiln answers with (and the exchange, to go on). */
async function firstAnswer(kiln: TestKiln, head: string) {
  const ex = await rawExchange(kiln.url, head);
  // Generous, for a loaded machine: an answer at all is what counts, not its speed.
  const status = await within(ex.answered, 30_000, 'no answer to the head');
  return { ex, status };
}

describe('Expect: 100-continue', () => {
  let kiln: TestKiln;
  before(async () => {
    kiln = await startTestKiln({ env: { KILN_UPLOAD_LIMIT_BYTES: String(LIMIT) } });
  });
  after(() => kiln?.close());

  const head = (path: string, headers: string[], length: number) =>
    [`POST ${path} HTTP/1.1`, 'Host: kiln', `Content-Type: ${path.endsWith('/uploads') ? 'application/octet-stream' : 'application/json'}`, `Content-Length: ${length}`, 'Expect: 100-continue', ...headers, '', ''].join('\r\n');

  for (const [name, path, headers, length, status] of [
    ['an upload without a token', '/v1/uploads', [], 1000, 401],
    ['an upload with a wrong token', '/v1/uploads', ['Authorization: Bearer kiln_nope'], 1000, 401],
    ['an upload over the limit', '/v1/uploads', ['TOKEN'], LIMIT + 1, 413],
    ['a build body over the limit', '/v1/builds', ['TOKEN'], 2 * LIMIT, 413],
    ['a delivery to no webhook', `/v1/webhooks/${randomUUID()}/deliveries`, [], 1000, 404],
  ] as const) {
    it(`${name}: the refusal (${status}) is the first answer, never 100 Continue`, async () => {
      const { ex, status: first } = await firstAnswer(kiln, head(path, headers.map((h) => (h === 'TOKEN' ? `Authorization: Bearer ${kiln.token}` : h)), length));
      try {
        assert.equal(first, status, ex.received().slice(0, 300));
        assert.doesNotMatch(ex.received(), /^HTTP\/1\.1 100/);
        // Nothing more to send: kiln closes the connection it refused.
        await within(ex.closed, 30_000, 'the refused connection stayed open');
      } finally {
        ex.socket.destroy();
      }
    });
  }

  it('an upload kiln takes hears 100 Continue first, and is stored once the body follows', async () => {
    const body = Buffer.from('a binary sent after being asked for');
    const { ex, status } = await firstAnswer(kiln, head('/v1/uploads', [`Authorization: Bearer ${kiln.token}`], body.length));
    try {
      assert.equal(status, 100, ex.received());
      ex.socket.write(body);
      await within(
        (async () => {
          while (!/HTTP\/1\.1 201[\s\S]*\r\n\r\n\{[\s\S]*\}$/.test(ex.received())) await new Promise((r) => setTimeout(r, 50));
        })(),
        30_000,
        `no 201 after the body: ${ex.received()}`,
      );
      const json = JSON.parse(ex.received().slice(ex.received().lastIndexOf('\r\n\r\n') + 4)) as { size: number };
      assert.equal(json.size, body.length);
    } finally {
      ex.socket.destroy();
    }
  });
});

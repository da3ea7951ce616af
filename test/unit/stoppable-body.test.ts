// The body of a blob upload ends cleanly when the upload is stopped or its source fails, so the registry answers with
// the offset it holds and the session can be canceled (a cut-off request leaves the registry's state stale).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stoppableBody } from '../../core/registry-blobs.ts';

const drain = async (chunks: AsyncIterable<Buffer>) => {
  const got: string[] = [];
  for await (const c of chunks) got.push(c.toString());
  return got;
};

describe('stoppableBody', () => {
  it('passes every chunk of a source that ends, and tells no stop', async () => {
    const s = stoppableBody((async function* () { yield Buffer.from('a'); yield Buffer.from('b'); })());
    assert.deepEqual(await drain(s.chunks), ['a', 'b']);
    assert.equal(s.stopped(), undefined);
  });

  it('ends without waiting for a chunk that never comes once the signal aborts, and tells the reason', async () => {
    const ac = new AbortController();
    let returned = false;
    const source: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => {
        let n = 0;
        return {
          next: () => (n++ === 0 ? Promise.resolve({ value: Buffer.from('first'), done: false }) : new Promise<IteratorResult<Buffer>>(() => undefined)),
          return: async () => ((returned = true), { value: undefined, done: true }),
        };
      },
    };
    const s = stoppableBody(source, ac.signal);
    const reason = new Error('canceled by a user');
    const got: string[] = [];
    for await (const c of s.chunks) {
      got.push(c.toString());
      ac.abort(reason);
    }
    assert.deepEqual(got, ['first']);
    assert.equal(s.stopped()?.reason, reason);
    assert.ok(returned, 'the source is let go');
  });

  it("ends when the source fails, and tells the source's error (not a network error)", async () => {
    const boom = new Error('entry .wh.x is reserved');
    const s = stoppableBody((async function* () { yield Buffer.from('a'); throw boom; })());
    assert.deepEqual(await drain(s.chunks), ['a']);
    assert.equal(s.stopped()?.reason, boom);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEngineLanes } from '../../builder/engine-lanes.ts';

describe('engine lanes', () => {
  it('never hands out a lane another engine build of the process holds, and reuses the lowest free one', () => {
    const lanes = createEngineLanes('abc123');
    const a = lanes.acquire();
    const b = lanes.acquire();
    assert.deepEqual([a.id, b.id], ['abc123.0', 'abc123.1']);
    a.release();
    a.release(); // twice is once
    const c = lanes.acquire();
    assert.equal(c.id, 'abc123.0');
    assert.equal(lanes.acquire().id, 'abc123.2');
  });

  it('names lanes after the process, so two processes on one engine never share one', () => {
    assert.notEqual(createEngineLanes().acquire().id, createEngineLanes().acquire().id);
  });
});

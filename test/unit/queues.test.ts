import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Job } from 'bullmq';
import { ANALYZE_JOB, ANALYZER_QUEUE, BUILD_JOB, BUILD_QUEUE, jobDispatcher, LAYERS_JOB, TEMPLATE_JOB } from '../../core/queues.ts';

const handler = (name: string) => async () => `handled ${name}`;

describe('job dispatcher', () => {
  it('refuses to exist (so its process refuses to start) when a job name the queue carries has no handler', () => {
    assert.throws(() => jobDispatcher(BUILD_QUEUE, { [BUILD_JOB]: handler(BUILD_JOB) }), /no handler for template/);
    assert.throws(() => jobDispatcher(ANALYZER_QUEUE, {}), /no handler for analyze/);
  });

  it('refuses a handler for a job the queue never carries', () => {
    assert.throws(
      () => jobDispatcher(ANALYZER_QUEUE, { [ANALYZE_JOB]: handler(ANALYZE_JOB), [BUILD_JOB]: handler(BUILD_JOB) }),
      /handlers for jobs it never carries: build/,
    );
  });

  it('sends each job to the handler of its name', async () => {
    const dispatch = jobDispatcher(BUILD_QUEUE, { [BUILD_JOB]: handler(BUILD_JOB), [TEMPLATE_JOB]: handler(TEMPLATE_JOB), [LAYERS_JOB]: handler(LAYERS_JOB) });
    assert.equal(await dispatch({ name: TEMPLATE_JOB } as Job), 'handled template');
    assert.equal(await dispatch({ name: BUILD_JOB } as Job), 'handled build');
    await assert.rejects(dispatch({ name: 'other' } as Job), /no handler for job "other"/);
  });
});

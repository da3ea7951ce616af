import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BuildProgress } from '../../builder/build-progress.ts';

const instructions = [
  { text: 'FROM r', owner: 'base' },
  { text: 'RUN a', owner: 'jdk@17' },
  { text: 'ENV J=1', owner: 'jdk@17' },
  { text: 'COPY b', owner: 'binary' },
  { text: 'ENTRYPOINT ["b"]', owner: 'binary' },
];

describe('build progress', () => {
  it('times each plan step and sees the layer cache', () => {
    const p = new BuildProgress(instructions);
    p.onEvent({ stream: 'Step 1/5 : FROM r' }, 0);
    p.onEvent({ stream: '\n' }, 0);
    p.onEvent({ stream: ' ---> abc\n' }, 10);
    p.onEvent({ stream: 'Step 2/5 : RUN a\n' }, 1000);
    p.onEvent({ stream: ' ---> Running in 123\n' }, 1100);
    p.onEvent({ stream: 'Step 3/5 : ENV J=1\n' }, 9000);
    p.onEvent({ stream: ' ---> Using cache\n' }, 9010);
    p.onEvent({ stream: 'Step 4/5 : COPY b\n ---> Using cache\n' }, 9500);
    p.onEvent({ stream: 'Step 5/5 : ENTRYPOINT ["b"]\n ---> Using cache\n' }, 9600);
    p.onEvent({ aux: { ID: 'sha256:img' } }, 9700);
    const steps = p.finish(10_000);
    assert.equal(p.imageId, 'sha256:img');
    assert.equal(p.error, undefined);
    assert.deepEqual(steps, [
      { owner: 'jdk@17', seconds: 8.5, cached: false },
      { owner: 'binary', seconds: 0.5, cached: true },
    ]);
  });

  it("names the images the user's steps left, last first, and not the components' (the layer cache)", () => {
    const p = new BuildProgress(instructions);
    p.onEvent({ stream: 'Step 1/5 : FROM r\n ---> 0123456789ab\n' }, 0);
    p.onEvent({ stream: 'Step 2/5 : RUN a\n ---> Running in 123456789abc\n' }, 1);
    p.onEvent({ stream: 'Removing intermediate container 123456789abc\n ---> aaaaaaaaaaaa\n' }, 2);
    p.onEvent({ stream: 'Step 3/5 : ENV J=1\n ---> Using cache\n ---> bbbbbbbbbbbb\n' }, 3);
    p.onEvent({ stream: 'Step 4/5 : COPY b\n' }, 4);
    p.onEvent({ stream: ' ---> cccccccccccc\n' }, 5);
    p.onEvent({ stream: 'Step 5/5 : ENTRYPOINT ["b"]\n ---> Running in dddddddddddd\n ---> eeeeeeeeeeee\n' }, 6);
    p.onEvent({ stream: 'Step 6/6 : LABEL dev.kiln.build-id=x\n ---> ffffffffffff\n' }, 7);
    p.finish(8);
    assert.deepEqual(p.binaryStepImages(), ['ffffffffffff', 'eeeeeeeeeeee', 'cccccccccccc']);
  });

  it('keeps the first error event', () => {
    const p = new BuildProgress(instructions);
    p.onEvent({ stream: 'Step 2/5 : RUN a\n' }, 0);
    const text = p.onEvent({ errorDetail: { code: 100, message: "The command '/bin/sh -c a' returned a non-zero code: 100" }, error: 'x' }, 5);
    p.onEvent({ error: 'later' }, 6);
    assert.match(text, /^ERROR: The command/);
    assert.equal(p.error, "The command '/bin/sh -c a' returned a non-zero code: 100");
  });

  it("knows when the engine may be in the build's own steps: once the step before them has its image", () => {
    const p = new BuildProgress(instructions);
    const begun: boolean[] = [];
    for (const stream of [
      'Step 1/6 : FROM r\n ---> 0123456789ab\n',
      'Step 2/6 : RUN a\n ---> Running in 123456789abc\n',
      'Removing intermediate container 123456789abc\n ---> aaaaaaaaaaaa\n',
      'Step 3/6 : ENV J=1\n',
      ' ---> Running in 223456789abc\n',
      ' ---> bbbbbbbbbbbb\n', // the step before COPY has its image: the engine may be copying now
      'Step 4/6 : COPY b\n',
    ]) {
      p.onEvent({ stream }, 0);
      begun.push(p.ownStepsBegun());
    }
    assert.deepEqual(begun, [false, false, false, false, false, true, true]);
    // A template has no steps of its own but the engine's label step, after the Dockerfile's last.
    const template = new BuildProgress(instructions.slice(0, 3));
    template.onEvent({ stream: 'Step 1/4 : FROM r\n ---> 0123456789ab\nStep 2/4 : RUN a\n' }, 0);
    assert.equal(template.ownStepsBegun(), false);
    template.onEvent({ stream: ' ---> aaaaaaaaaaaa\nStep 3/4 : ENV J=1\n ---> bbbbbbbbbbbb\n' }, 0);
    assert.equal(template.ownStepsBegun(), true);
  });
});

describe('build progress with the lane step', () => {
  it('keeps the lane step out of the removed images, the recorded steps and the step listener', () => {
    const laned = [...instructions.slice(0, 3), { text: 'ARG KILN_ENGINE_LANE=ab.0', owner: 'lane' }, ...instructions.slice(3)];
    const heard: string[] = [];
    const p = new BuildProgress(laned, (owner) => heard.push(owner));
    p.onEvent({ stream: 'Step 1/6 : FROM r\n ---> 0123456789ab\n' }, 0);
    p.onEvent({ stream: 'Step 2/6 : RUN a\n ---> Using cache\n ---> aaaaaaaaaaaa\n' }, 1);
    p.onEvent({ stream: 'Step 3/6 : ENV J=1\n ---> Using cache\n ---> bbbbbbbbbbbb\n' }, 2);
    p.onEvent({ stream: 'Step 4/6 : ARG KILN_ENGINE_LANE=ab.0\n ---> Using cache\n ---> 111111111111\n' }, 3);
    assert.equal(p.ownStepsBegun(), true, 'the lane step has its image: the COPY may be running');
    p.onEvent({ stream: 'Step 5/6 : COPY b\n ---> cccccccccccc\n' }, 4);
    p.onEvent({ stream: 'Step 6/6 : ENTRYPOINT ["b"]\n ---> dddddddddddd\n' }, 5);
    assert.deepEqual(p.finish(6).map((s) => s.owner), ['jdk@17', 'binary']);
    assert.deepEqual(p.binaryStepImages(), ['dddddddddddd', 'cccccccccccc']);
    assert.deepEqual(p.stepImages(), [{ owner: 'jdk@17', image: 'bbbbbbbbbbbb' }, { owner: 'binary', image: 'dddddddddddd' }]);
    assert.ok(!heard.includes('lane'), heard.join(','));
  });
});

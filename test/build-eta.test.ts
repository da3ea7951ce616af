// How long a build will take, through the REST API a CI job or the form uses: POST /v1/builds answers the route and
// an estimate with its range (the catalog's while nothing was measured, this installation's once a build ran);
// GET /v1/builds/:id says, while the build runs, the step it is on, the time so far and the time left, and keeps what
// was estimated at submit; the stored log has none of the terminal escapes the install step printed.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SubmitEstimate } from '../core/eta/estimate-types.ts';
import { call, getBuild, postBuild, upload, waitFor, waitForBuild, type BuildView } from './helpers/api-client.ts';
import { removeSlowLayers, slowCatalog } from './helpers/catalogs.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

interface Progress {
  elapsedSeconds: number;
  remainingSeconds: number | null;
  remainingLow: number | null;
  remainingHigh: number | null;
  fraction: number;
  currentStep: { kind: string; component: string; index: number; total: number; elapsedSeconds: number } | null;
  steps: { kind: string; component: string; status: string; seconds: number | null; estimatedSeconds: number }[];
  submitted: SubmitEstimate | null;
}
type Build = Omit<BuildView, 'steps'> & { progress: Progress | null; steps: (BuildView['steps'][number] & { bytes: number | null })[] };

// The catalog says the step takes 15 minutes; it really takes about 12 seconds here.
const CATALOG_SECONDS = 900;
const STEP_SECONDS = 12;

describe('build estimates and progress through the API', () => {
  const nonce = `${Date.now()}`;
  let dir: string;
  let kiln: TestKiln;
  let slow: string;
  let firstId: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-eta-'));
    const catalog = await slowCatalog(dir, { seconds: STEP_SECONDS, nonce, costEstimateSeconds: CATALOG_SECONDS, colours: true });
    slow = `slow@${`1-${nonce}`.slice(0, 40)}`;
    kiln = await startTestKiln({ builder: true, env: { KILN_CATALOG_DIR: catalog } });
  });
  after(async () => {
    if (kiln) await removeSlowLayers(kiln.infra.docker, nonce);
    await kiln?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const submit = async (tag: string) => {
    const up = await upload(kiln, Buffer.from(`#!/bin/sh\necho ${tag}\n`), 'run.sh');
    const res = await postBuild(kiln, { components: [slow], uploadId: up.body.id, binaryPath: '/usr/local/bin/run.sh', entrypoint: ['/usr/local/bin/run.sh'], image: `eta/slow:${tag}` });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body as { id: string; status: string; route: string | null; queuePosition: number | null; estimate: SubmitEstimate | null };
  };

  it('answers the route and an estimate with its range at submit, and says where a running build is and what it has left', async () => {
    const first = await submit('first');
    firstId = first.id;
    assert.equal(first.route, 'install');
    const est = first.estimate;
    assert.ok(est, 'an estimate at submit');
    assert.equal(est.route, 'install');
    assert.equal(est.basis, 'catalog', 'nothing was measured on this installation yet');
    assert.ok(est.low <= est.seconds && est.seconds <= est.high, JSON.stringify(est));
    assert.ok(est.runSeconds >= CATALOG_SECONDS * 0.9, `the catalog's 15 minutes price the install: ${JSON.stringify(est)}`);
    assert.ok(Math.abs(est.queueSeconds + est.runSeconds - est.seconds) <= 1, JSON.stringify(est));

    // While the install step runs: the step, its place among the steps, the time so far and the time left.
    const running = await waitFor(
      'the build on its install step',
      async () => {
        const b = (await getBuild(kiln, first.id)) as Build;
        assert.notEqual(b.status, 'failed', b.error ?? '');
        return b.progress?.currentStep?.component === slow ? b : undefined;
      },
      180_000,
      250,
    );
    const p = running.progress!;
    assert.equal(running.status, 'running');
    assert.deepEqual({ kind: p.currentStep!.kind, index: p.currentStep!.index, total: p.currentStep!.total }, { kind: 'install', index: 1, total: 3 });
    assert.deepEqual(
      p.steps.map((s) => [s.component, s.status]),
      [
        [slow, 'running'],
        ['binary', 'pending'],
        ['push', 'pending'],
      ],
    );
    assert.ok(p.elapsedSeconds >= p.currentStep!.elapsedSeconds && p.currentStep!.elapsedSeconds >= 0, JSON.stringify(p));
    assert.ok(p.remainingSeconds !== null && p.remainingSeconds > 0, JSON.stringify(p));
    assert.ok(p.remainingLow! <= p.remainingSeconds && p.remainingSeconds <= p.remainingHigh!, JSON.stringify(p));
    assert.ok(p.fraction >= 0 && p.fraction < 1, JSON.stringify(p));
    assert.deepEqual(p.submitted, est, 'what was said at submit is kept');

    const done = (await waitForBuild(kiln, first.id)) as Build;
    assert.equal(done.status, 'succeeded', done.error ?? '');
    const ended = (await getBuild(kiln, first.id)) as Build;
    assert.equal(ended.progress?.fraction, 1);
    assert.deepEqual(
      ended.steps.map((s) => [s.component, s.kind]),
      [
        [slow, 'install'],
        ['binary', 'install'],
        ['push', 'push'],
      ],
    );
    assert.ok(ended.steps.find((s) => s.component === slow)!.seconds >= STEP_SECONDS, 'the step really ran');
    assert.ok((ended.steps.at(-1)!.bytes ?? 0) > 0, 'the push counts the bytes it sent');
  });

  it('keeps no terminal escapes in the stored log, only the text', async () => {
    assert.ok(firstId, 'the first build ran');
    const log = await (await call(kiln, `/v1/builds/${firstId}/logs`)).text();
    assert.match(log, /slow-line-1\n/);
    assert.match(log, /slow-red plain end\n/, 'the text between the escapes stays');
    assert.doesNotMatch(log, /[\x1b\x07]/, 'no colour, title or erase sequences');
  });

  it('estimates from what this installation measured once a build ran, not from the catalog', async () => {
    const preview = (await (
      await call(kiln, '/v1/builds/preview', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ components: [slow] }) })
    ).json()) as { estimate: { seconds: number; basis: string; steps: { component: string; seconds: number }[] } };
    const step = preview.estimate.steps.find((s) => s.component === slow);
    assert.ok(step && step.seconds < CATALOG_SECONDS / 10, `the measured install prices the step: ${JSON.stringify(preview.estimate)}`);
    assert.notEqual(preview.estimate.basis, 'catalog');

    const second = await submit('second');
    assert.ok(second.estimate && second.estimate.basis !== 'catalog', JSON.stringify(second.estimate));
    assert.ok(second.estimate.runSeconds < CATALOG_SECONDS / 10, `seconds, not the catalog's 15 minutes: ${JSON.stringify(second.estimate)}`);
    const done = await waitForBuild(kiln, second.id);
    assert.equal(done.status, 'succeeded', done.error ?? '');
  });
});

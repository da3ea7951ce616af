// The estimator on fixed histories: cold installs, the layer cache, composed and template builds, a push of N bytes,
// the queue; robustness (an outlier, old samples) and the catalog fallback; and a running build's progress.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BuildSample, RunRequest, StepSample } from '../../core/eta/estimate-types.ts';
import { estimateQueue, estimateRun } from '../../core/eta/estimator.ts';
import { learn } from '../../core/eta/eta-knowledge.ts';
import { runProgress } from '../../core/eta/progress.ts';
import { requestOfPlan } from '../../api/eta-service.ts';
import type { BuildPlan } from '../../core/build-types.ts';

const now = 1_800_000_000;
const MB = 1e6;
const catalog = new Map([
  ['jdk@17', 300],
  ['openssl@3', 60],
  ['gcc@12', 3600],
  ['cuda@11.8', 1200],
]);

const step = (o: Partial<StepSample> & Pick<StepSample, 'kind' | 'component' | 'seconds'>): StepSample => ({ t: now - 3600, bytes: null, prefix: null, afterCached: false, components: 1, ...o });
const install = (component: string, seconds: number, o: Partial<StepSample> = {}) => step({ kind: 'install', component, seconds, prefix: 'root:debian-bookworm', afterCached: true, bytes: 300 * MB, ...o });
const req = (o: Partial<RunRequest>): RunRequest => ({ route: 'install', root: 'debian-bookworm', components: [], covered: [], templateId: null, templateBytes: null, verified: null, binaryBytes: 1 * MB, ...o });
/** Pushes that took 1 s + bytes / 50 MB/s. */
const pushes = [100, 300, 600, 1000, 2000].map((mb) => step({ kind: 'push', component: 'push', seconds: 1 + mb / 50, bytes: mb * MB }));
const near = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance * expected, `${what}: ${actual.toFixed(2)} is not within ${tolerance * 100} % of ${expected}`);

describe('estimator', () => {
  it('falls back to the catalog with a wide range when nothing was measured, and says so', () => {
    const k = learn([], [], catalog, now);
    const e = estimateRun(k, req({ components: ['jdk@17'] }));
    assert.equal(e.basis, 'catalog');
    near(e.seconds, 300, 0.25, 'about the catalog estimate');
    assert.ok(e.low < 200 && e.high > 450, `a catalog estimate is a guess: ${e.low}–${e.high}`);
    assert.ok(e.low <= e.seconds && e.seconds <= e.high);
    const cuda = estimateRun(k, req({ components: ['gcc@12', 'cuda@11.8'] }));
    assert.ok(cuda.seconds > 3 * e.seconds, 'gcc and cuda take longer than a jdk');
  });

  it('cold: a measured install replaces the catalog estimate, with a range that holds it', () => {
    const steps = [8.1, 7.9, 8.4, 8.0, 7.6].map((s, i) => install('jdk@17', s, { t: now - 3600 * (i + 1) }));
    const k = learn([...steps, ...pushes], [], catalog, now);
    const e = estimateRun(k, req({ components: ['jdk@17'] }));
    assert.equal(e.basis, 'history');
    const installStep = e.steps.find((s) => s.component === 'jdk@17')!;
    assert.equal(installStep.kind, 'install');
    near(installStep.seconds, 8, 0.05, 'the median install');
    // The run: the install, the binary, a push of the new 300 MB layer (1 s + 6 s) and kiln's overhead.
    near(e.seconds, 8 + 0.5 + 7 + 2, 0.25, 'the whole run');
    assert.ok(e.low < 17 && e.high > 17 && e.high < 40, `${e.low}–${e.high}`);
  });

  it('cached: the layer cache that answered this prefix lately makes it a cache step, and an install breaks the chain', () => {
    const cold = [8, 8, 8].map((s) => install('jdk@17', s));
    const cachedJdk = [1, 2, 3, 4].map((h) => step({ kind: 'cache', component: 'jdk@17', seconds: 0.2, prefix: 'root:debian-bookworm', afterCached: true, t: now - h * 600 }));
    const coldOpenssl = [1, 2, 3].map((h) => install('openssl@3', 1.5, { prefix: 'root:debian-bookworm>jdk@17', t: now - h * 700 }));
    const k = learn([...cold, ...cachedJdk, ...coldOpenssl, ...pushes], [], catalog, now);
    const e = estimateRun(k, req({ components: ['jdk@17', 'openssl@3'] }));
    const [jdk, openssl] = e.steps;
    assert.equal(jdk!.kind, 'cache');
    assert.ok(jdk!.cacheChance! > 0.5 && jdk!.seconds < 1, JSON.stringify(jdk));
    assert.equal(openssl!.kind, 'install', 'never cached after jdk');
    const uncached = estimateRun(learn([...cold, ...pushes], [], catalog, now), req({ components: ['jdk@17', 'openssl@3'] }));
    assert.ok(e.seconds < uncached.seconds - 5, `cached ${e.seconds} vs cold ${uncached.seconds}`);
  });

  it('composed: seconds, not the catalog’s minutes; a first build of a combination pays its verification', () => {
    const assembles = [10, 50, 200].map((mb) => step({ kind: 'assemble', component: 'binary', seconds: 0.8 + mb / 100, bytes: mb * MB }));
    const verifies = [step({ kind: 'verify', component: 'verify', seconds: 24, components: 2 }), step({ kind: 'verify', component: 'verify', seconds: 33, components: 3 })];
    const k = learn([...assembles, ...verifies], [], catalog, now);
    const verified = estimateRun(k, req({ route: 'composed', components: ['gcc@12', 'cuda@11.8'], verified: true, binaryBytes: 100 * MB }));
    assert.deepEqual(verified.steps.map((s) => s.kind), ['layer', 'layer', 'assemble']);
    near(verified.steps.at(-1)!.seconds, 1.8, 0.1, 'assembling 100 MB');
    assert.ok(verified.seconds < 10, `${verified.seconds}`);
    const first = estimateRun(k, req({ route: 'composed', components: ['gcc@12', 'cuda@11.8'], verified: false, binaryBytes: 100 * MB }));
    near(first.steps.find((s) => s.kind === 'verify')!.seconds, 24, 0.15, 'verifying 2 components');
    assert.ok(first.seconds > verified.seconds + 15);
  });

  it('template: only what the template lacks is installed, and the pull is priced by its bytes and how often builders lacked it', () => {
    const pulls = [500, 1000, 2000].map((mb) => step({ kind: 'pull', component: 'pull', seconds: 1 + mb / 100, bytes: mb * MB }));
    const gcc = install('gcc@12', 900);
    const cuda = [300, 320].map((s) => install('cuda@11.8', s, { prefix: 'tpl:t1' }));
    const always: BuildSample[] = [1, 2, 3].map((h) => ({ route: 'template', queuedAt: now - h * 3600, startedAt: now - h * 3600, finishedAt: now - h * 3600 + 400, stepSeconds: 398, templateId: 't1', pulled: true }));
    const k = learn([...pulls, gcc, ...cuda, ...pushes], always, catalog, now);
    const e = estimateRun(k, req({ route: 'template', components: ['gcc@12', 'cuda@11.8'], covered: ['gcc@12'], templateId: 't1', templateBytes: 1500 * MB }));
    assert.deepEqual(e.steps.map((s) => s.component), ['pull', 'cuda@11.8', 'binary', 'push']);
    const pull = e.steps[0]!;
    near(pull.seconds, 16, 0.1, 'pulling 1.5 GB');
    assert.ok(pull.chance! > 0.7, `builders lacked t1 every time: ${pull.chance}`);
    assert.ok(e.seconds > 300 + 16 && e.seconds < 900, `no gcc install in ${e.seconds}`);
    const never = learn([...pulls, gcc, ...cuda, ...pushes], always.map((b) => ({ ...b, pulled: false })), catalog, now);
    assert.ok(estimateRun(never, req({ route: 'template', components: ['gcc@12', 'cuda@11.8'], covered: ['gcc@12'], templateId: 't1', templateBytes: 1500 * MB })).seconds < e.seconds - 10);
  });

  it('push of N bytes: learned as a line, so twice the new layers take about twice the push', () => {
    const k = learn([install('jdk@17', 8, { bytes: 500 * MB }), install('gcc@12', 60, { bytes: 1000 * MB }), ...pushes], [], catalog, now);
    const push = (components: string[]) => estimateRun(k, req({ components, binaryBytes: 0 })).steps.find((s) => s.kind === 'push')!.seconds;
    near(push(['jdk@17']), 1 + 500 / 50, 0.05, 'a 500 MB push');
    near(push(['jdk@17', 'gcc@12']), 1 + 1500 / 50, 0.05, 'a 1.5 GB push');
  });

  it('an archive build is priced by what it unpacks to, not by its gzip size', () => {
    const assembles = [10, 50, 200].map((mb) => step({ kind: 'assemble', component: 'binary', seconds: 0.8 + mb / 100, bytes: mb * MB }));
    const k = learn(assembles, [], catalog, now);
    const plan = (binary: Partial<BuildPlan['binary']>): BuildPlan => ({
      root: { name: 'debian-bookworm', image: 'kiln-root:debian-bookworm' },
      base: { kind: 'composed', image: 'x', digest: 'sha256:x', compositionKey: 'k', layers: [], merge: null, verifiedNow: false, secondsSaved: 0 },
      components: [],
      binary: { uploadId: 'u', sha256: 's', size: 4 * MB, s3Key: 'k', path: '/opt/app', ...binary },
      entrypoint: ['/opt/app/run'],
      env: {},
      imageRef: 'r/p/app:1',
    });
    const assemble = (p: BuildPlan) => estimateRun(k, requestOfPlan(p, null)).steps.find((s) => s.kind === 'assemble')!.seconds;
    // 4 MB of gzip holding 4,000 MB of tar: assembling it is assembling 4,000 MB (0.8 s + 40 s on the line learned).
    near(assemble(plan({ kind: 'tar', entries: 1, unpackedSize: 4000 * MB })), 0.8 + 4000 / 100, 0.1, 'assembling a 4 MB archive of 4,000 MB');
    near(assemble(plan({})), 0.8 + 4 / 100, 0.1, 'assembling a 4 MB file');
  });

  it('queue: a wait of `position` departures at the rate the queue drained while builds waited', () => {
    // One build left the queue every 60 s while others waited (and an idle night between says nothing).
    const waited: BuildSample[] = Array.from({ length: 20 }, (_, i) => ({ route: 'install', queuedAt: now - 7200 + i * 60 - 120, startedAt: now - 7200 + i * 60, finishedAt: now - 7200 + i * 60 + 50, stepSeconds: 45, templateId: null, pulled: false }));
    const k = learn([], [...waited, { ...waited[0]!, queuedAt: now - 90_000, startedAt: now - 90_000, finishedAt: now - 89_000 }], catalog, now);
    near(k.queueRate!, 1 / 60, 0.1, 'the drain rate');
    const third = estimateQueue(k, 3, 2);
    assert.ok(third.seconds > 120 && third.seconds < 200, `${third.seconds}`);
    assert.ok(third.low < third.seconds && third.high > 180, `${third.low}–${third.high}`);
    assert.ok(estimateQueue(k, 10, 2).seconds > 500);
    assert.equal(estimateQueue(k, 0, 2).seconds, 0, 'a build a free builder takes at once does not wait');
    const unknown = estimateQueue(learn([], [], catalog, now), 4, 2);
    assert.equal(unknown.basis, 'catalog');
  });

  it('queue, with the builds ahead in view: it starts when a slot frees after the runs before it', () => {
    const k = learn([], [], catalog, now);
    const e = (seconds: number) => ({ seconds, low: seconds / 2, high: seconds * 2, basis: 'history' as const });
    // Two slots, busy for 100 s and 300 s more; one build of 200 s before it: that one takes the first slot (100 → 300),
    // so this one starts at 300 s.
    const q = estimateQueue(k, 2, 2, { running: [e(100), e(300)], queued: [e(200)] });
    assert.deepEqual([q.seconds, q.low, q.high], [300, 150, 600]);
    assert.equal(estimateQueue(k, 1, 2, { running: [e(100), e(300)], queued: [] }).seconds, 100);
  });

  it('is robust to an outlier and follows recent samples more than old ones', () => {
    const steady = [8, 8.2, 7.8, 8.1, 7.9].map((s) => install('jdk@17', s));
    const wild = learn([...steady, install('jdk@17', 400)], [], catalog, now);
    near(wild.install.get('jdk@17')!.median, 8, 0.05, 'one wild sample does not move the median');
    const drifted = [...[30, 31, 29, 30].map((s) => install('jdk@17', s, { t: now - 40 * 86400 })), ...[10, 11, 9].map((s) => install('jdk@17', s, { t: now - 3600 }))];
    near(learn(drifted, [], catalog, now).install.get('jdk@17')!.median, 10, 0.15, 'the network got faster: the recent samples count');
  });

  it('progress: done steps, the running step, what is left, and an overrun that keeps the bar moving', () => {
    const k = learn([install('jdk@17', 100), install('openssl@3', 20, { prefix: 'root:debian-bookworm>jdk@17' }), ...pushes], [], catalog, now);
    const run = estimateRun(k, req({ components: ['jdk@17', 'openssl@3'] }));
    const started = now * 1000;
    const live = (at: number) => ({ startedAt: started, done: [{ kind: 'install' as const, component: 'jdk@17', seconds: 100 }], current: { kind: 'install' as const, component: 'openssl@3', since: started + 100_000 + at } });
    const p = runProgress(run, live(0), started, started + 110_000);
    assert.deepEqual(p.steps.map((s) => `${s.component}:${s.status}`), ['jdk@17:done', 'openssl@3:running', 'binary:pending', 'push:pending']);
    assert.deepEqual(p.currentStep && [p.currentStep.component, p.currentStep.index, p.currentStep.total], ['openssl@3', 2, 4]);
    // The push carries both new layers (300 MB each) and the binary.
    near(p.remainingSeconds, 10 + 0.5 + 1 + 601 / 50, 0.1, 'the rest of openssl, the binary and the push');
    const later = runProgress(run, live(0), started, started + 200_000);
    assert.ok(later.fraction > p.fraction && later.fraction < 1, `${p.fraction} → ${later.fraction}`);
    assert.ok(later.remainingSeconds > 0, 'an overrun still has time left');
    const fresh = runProgress(run, null, started, started + 1000);
    assert.ok(fresh.fraction < 0.05 && fresh.steps.every((s) => s.status === 'pending'));
  });
});

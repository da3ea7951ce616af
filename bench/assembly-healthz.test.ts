// `npm run bench:assembly` (KILN_BENCH_GIB=4 by default): how a large composed build holds up the process it runs in,
// as in the all-in-one `npm start`. One process runs api + builder with composition on; it answers /healthz every
// 100 ms while idle, while it takes an archive upload that unpacks to KILN_BENCH_GIB GiB of zeros (a small gzip), and
// while it assembles the binary layer of a composed build from it. Prints /healthz latency (median, p95, max) and the
// event loop's delay (p50, p99, max, from perf_hooks) for each phase. Asserts only that the build succeeds: the
// figures are for reading. Runs under the test runner for its services (a test-owned registry, like the tests').
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { it } from 'node:test';
import { logUntil, postBuild, uploadStream, waitForBuild } from '../test/helpers/api-client.ts';
import { startScratchRegistry } from '../test/helpers/scratch-registry.ts';
import { startTestKiln, type TestKiln } from '../test/helpers/test-kiln.ts';
import { zeroFileArchive } from '../test/hostile/tar-fixtures.ts';

const GiB = 1024 ** 3;
const IDLE_MS = 10_000;

const quantile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;

/** Asks /healthz every 100 ms until `over()` (the client shares the event loop with kiln, as a probe's answer would). */
async function sample(kiln: TestKiln, over: () => boolean) {
  const latencies: number[] = [];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const started = Date.now();
  while (!over()) {
    const t = performance.now();
    await fetch(`${kiln.url}/healthz`).then((r) => r.arrayBuffer());
    latencies.push(performance.now() - t);
    await sleep(100);
  }
  loop.disable();
  const ms = (ns: number) => Number((ns / 1e6).toFixed(1));
  return {
    seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
    probes: latencies.length,
    healthzMs: { median: Number(quantile(latencies, 0.5).toFixed(1)), p95: Number(quantile(latencies, 0.95).toFixed(1)), max: Number(Math.max(...latencies).toFixed(1)) },
    loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
  };
}

it('the process answers /healthz while it assembles a large binary layer', { timeout: 3_600_000 }, async () => {
  const gib = Number(process.env.KILN_BENCH_GIB ?? '4');
  const registry = await startScratchRegistry('plain');
  const kiln = await startTestKiln({ builder: true, env: { ...registry.kilnEnv(), KILN_COMPOSITION: 'true', KILN_BUILD_ATTEMPTS: '1' } });
  try {
    const idleUntil = Date.now() + IDLE_MS;
    const idle = await sample(kiln, () => Date.now() > idleUntil);

    const nonce = randomBytes(4).toString('hex');
    let uploaded = false;
    const uploading = uploadStream(kiln, zeroFileArchive(`zeros-${nonce}.bin`, gib * GiB), '?archive=tar').finally(() => (uploaded = true));
    const upload = await sample(kiln, () => uploaded);
    const up = await uploading;
    assert.equal(up.status, 201, JSON.stringify(up.body));

    const res = await postBuild(kiln, { uploadId: up.body.id, binaryPath: `/opt/bench-${nonce}`, entrypoint: ['/bin/true'], image: `bench-assembly:${nonce}` });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = res.body.id as string;
    await logUntil(kiln, id, (t) => t.includes('kiln: composing')).reached;
    let ended = false;
    const building = waitForBuild(kiln, id, 3_000_000).finally(() => (ended = true));
    const assembly = await sample(kiln, () => ended);
    const build = await building;
    assert.equal(build.status, 'succeeded', build.error ?? '');
    assert.ok(build.steps.some((s) => s.kind === 'assemble'), 'assembled in the registry');
    process.stderr.write(`bench:assembly ${gib} GiB unpacked\n${JSON.stringify({ idle, upload, assembly }, null, 2)}\n`);
  } finally {
    await kiln.close();
    await registry.remove();
  }
});

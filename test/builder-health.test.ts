// A builder run alone answers for itself on KILN_OPS_PORT (its container's healthcheck reads it): /healthz while it
// runs, /readyz for what a build uses — and a catalog root that neither its engine holds nor any builder has published,
// and that it could not pull as it started, keeps it not ready, named, until the root is there.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { freePort } from './helpers/ports.ts';
import { startTestKiln, type TestKiln } from './helpers/test-kiln.ts';

describe('a builder’s own health routes', { timeout: 600_000 }, () => {
  let kiln: TestKiln;
  let ops: string;
  const prefix = `kiln-health-${randomBytes(4).toString('hex')}`;
  const root = `${prefix}:debian-bookworm`;

  before(async () => {
    const port = await freePort();
    ops = `http://127.0.0.1:${port}`;
    kiln = await startTestKiln({
      builder: true,
      env: {
        KILN_OPS_PORT: String(port),
        // A root name no engine holds, and a mirror that has nothing: the builder starts without its root.
        KILN_ROOT_IMAGE_PREFIX: prefix,
        KILN_ROOT_PULL_MIRROR: `${process.env.REGISTRY_HOST ?? '127.0.0.1:5000'}/${prefix}/mirror`,
      },
    });
  });
  after(async () => {
    await kiln?.infra.docker.getImage(root).remove().catch(() => undefined);
    await kiln?.close();
  });

  it('is alive, not ready while its root is nowhere (and says which and why), and ready once the root is on its engine', async () => {
    assert.deepEqual(await (await fetch(`${ops}/healthz`)).json(), { status: 'ok' });
    const metrics = await (await fetch(`${ops}/metrics`)).text();
    assert.match(metrics, /^kiln_nodejs_version_info\{/m);

    const down = await fetch(`${ops}/readyz`);
    const body = (await down.json()) as { status: string; down: string[]; detail: string; checks: Record<string, { ok: boolean }> };
    assert.equal(down.status, 503, JSON.stringify(body));
    assert.deepEqual(body.down, ['roots']);
    assert.deepEqual(Object.keys(body.checks), ['database', 'redis', 's3', 'engine', 'registry', 'roots']);
    assert.match(body.detail, new RegExp(`debian-bookworm \\(${root}\\)`));

    // An operator loads the root (or a builder publishes one): ready, without a restart.
    await kiln.infra.docker.getImage('kiln-root:debian-bookworm').tag({ repo: prefix, tag: 'debian-bookworm' });
    const up = await fetch(`${ops}/readyz`);
    assert.equal(up.status, 200, await up.text());
  });
});

// History written straight to a kiln's database, for tests of what the analyzer makes of it.
import { randomUUID } from 'node:crypto';
import { builds, buildSteps } from '../../core/db/schema/builds.ts';
import type { TestKiln } from './test-kiln.ts';

/**
 * `n` succeeded builds an hour ago, from the root, whose install steps all ran (the layer cache served none of them),
 * taking `seconds` each. The engine's cache is shared with every other test and already holds the common components,
 * and the analyzer rightly discounts what a cache served: builds made in a test would show it no install time to
 * spare. These stand for builds on hosts whose cache did not have them.
 */
export async function pastBuilds(kiln: Pick<TestKiln, 'infra' | 'project' | 'config'>, steps: { component: string; seconds: number }[], n: number): Promise<void> {
  const components = steps.map((s) => ({ name: s.component.split('@')[0]!, version: s.component.split('@')[1]!, key: s.component, recipeHash: 'past' }));
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    const finishedAt = new Date(Date.now() - 3600_000);
    await kiln.infra.database.db.insert(builds).values({
      id,
      project: kiln.project,
      spec: {} as never,
      plan: { root: { name: 'debian-bookworm', image: 'kiln-root:debian-bookworm' }, base: { kind: 'root', image: 'kiln-root:debian-bookworm' }, components } as never,
      status: 'succeeded',
      imageRef: `${kiln.config.REGISTRY_HOST}/past/app:${id}`,
      startedAt: new Date(finishedAt.getTime() - 60_000),
      finishedAt,
    });
    await kiln.infra.database.db.insert(buildSteps).values(steps.map((s, position) => ({ ...s, cached: false, buildId: id, position })));
  }
}

import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { planBuild } from '../../core/build-planner.ts';
import type { BuildPlan } from '../../core/build-types.ts';
import { loadCatalog } from '../../core/catalog/catalog-loader.ts';
import type { Catalog } from '../../core/catalog/catalog.ts';
import { planVersions } from '../../builder/build-job.ts';
import { LANE_OWNER, renderDockerfile, renderLayerDockerfile, renderTemplateDockerfile, withEngineLane } from '../../builder/dockerfile-render.ts';
import { quoteEnvValue } from '../../core/dockerfile-lines.ts';

let catalog: Catalog;
let plan: BuildPlan;
before(async () => {
  catalog = await loadCatalog(path.resolve(import.meta.dirname, '../../base-images'));
  const r = planBuild(
    {
      root: 'debian-bookworm',
      components: ['openssl@3', 'jdk@17'],
      uploadId: 'u',
      binaryPath: '/opt/app/app.jar',
      entrypoint: ['java', '-jar', '/opt/app/app.jar'],
      cmd: ['--name', 'a "quoted" $HOME `x`'],
      env: { GREETING: 'hello $USER "you" \\o/' },
      image: 'team/app:1',
    },
    {
      catalog,
      upload: { id: 'u', project: 'p', sha256: 'x', size: 1, s3Key: 'k', filename: null, createdAt: new Date() },
      registryHost: 'r:5000',
      registryPrefix: 'kiln',
      project: 'p',
      rootImagePrefix: 'kiln-root',
    },
  );
  assert.ok(r.ok);
  plan = r.plan;
});

describe('dockerfile renderer', () => {
  it('renders FROM, components in canonical order, the binary, env and exec-form entrypoint', () => {
    const { dockerfile, instructions } = renderDockerfile(plan, planVersions(catalog, plan));
    const lines = dockerfile.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.equal(lines[0], 'FROM kiln-root:debian-bookworm');
    assert.match(lines[1]!, /^RUN .*apt-get install -y --no-install-recommends openjdk-17-jdk-headless;/);
    assert.equal(lines[2], 'ENV JAVA_HOME="/usr/lib/jvm/java-17-openjdk-amd64"');
    assert.match(lines[3]!, /^RUN .*install -y --no-install-recommends openssl libssl-dev ca-certificates;/);
    assert.equal(lines[4], 'COPY ["binary","/opt/app/app.jar"]');
    assert.equal(lines[5], 'ENV GREETING="hello \\$USER \\"you\\" \\\\o/"');
    assert.equal(lines[6], 'ENTRYPOINT ["java","-jar","/opt/app/app.jar"]');
    assert.equal(lines[7], 'CMD ["--name","a \\"quoted\\" $HOME `x`"]');
    assert.equal(lines.length, 8);
    assert.deepEqual(instructions.map((i) => i.owner), ['base', 'jdk@17', 'jdk@17', 'openssl@3', 'binary', 'binary', 'binary', 'binary']);
  });

  it("puts the lane step where the user's steps start: shared steps above it, the build's own below it", () => {
    const rendered = renderDockerfile(plan, planVersions(catalog, plan));
    const a = withEngineLane(rendered, '0a1b2c.0');
    const b = withEngineLane(rendered, '0a1b2c.1');
    const own = (r: typeof a) => r.instructions.slice(r.instructions.findIndex((i) => i.owner === LANE_OWNER)).map((i) => i.text);
    const shared = (r: typeof a) => r.instructions.slice(0, r.instructions.findIndex((i) => i.owner === LANE_OWNER)).map((i) => i.text);
    assert.deepEqual(shared(a), shared(b));
    assert.deepEqual(shared(a), rendered.instructions.filter((i) => i.owner !== 'binary').map((i) => i.text));
    assert.equal(own(a)[0], 'ARG KILN_ENGINE_LANE=0a1b2c.0');
    assert.equal(own(a)[1], 'COPY ["binary","/opt/app/app.jar"]');
    assert.notEqual(own(a)[0], own(b)[0]);
    assert.match(a.dockerfile, /\nARG KILN_ENGINE_LANE=0a1b2c\.0\nCOPY /);
    // A template or a layer has no step of the user's: the lane goes last, under the engine's label step.
    const template = withEngineLane(renderTemplateDockerfile('kiln-root:debian-bookworm', planVersions(catalog, plan), new Set()), '0a1b2c.0');
    assert.equal(template.instructions.at(-1)?.text, 'ARG KILN_ENGINE_LANE=0a1b2c.0');
    assert.throws(() => withEngineLane(rendered, 'x\nRUN rm -rf /'), /not an engine lane/);
  });

  it('escapes what the builder would expand in ENV values', () => {
    assert.equal(quoteEnvValue('a$b"c\\d'), '"a\\$b\\"c\\\\d"');
  });

  it('refuses to render from a recipe that changed after planning', () => {
    const stale = { ...plan, components: plan.components.map((c) => ({ ...c, recipeHash: 'sha256:old' })) };
    assert.throws(() => planVersions(catalog, stale), /recipe of jdk@17, openssl@3 changed/);
  });

  it('renders a component layer with the very steps an installed build runs, so they share the layer cache', () => {
    const gcc = catalog.components.get('gcc')!.versions.get('12')!;
    const cuda = catalog.components.get('cuda')!.versions.get('11.8')!;
    const layer = renderLayerDockerfile('kiln-root:debian-bookworm', [gcc], cuda).instructions.map((i) => i.text);
    const installed = renderTemplateDockerfile('kiln-root:debian-bookworm', [gcc, cuda], new Set()).instructions.map((i) => i.text);
    assert.deepEqual(layer, installed.slice(0, layer.length), 'a prefix of the installed steps');
    assert.equal(layer.length, installed.length - 1, "all but cuda's ENV, which goes into a composed image's config");
    assert.match(layer.at(-1)!, /^RUN .*nvidia-cuda-toolkit/);
  });

  it('puts a script component in one RUN (one layer), base64-encoded', () => {
    const gcc11 = catalog.components.get('gcc')!.versions.get('11')!;
    const [from, run, ...rest] = renderLayerDockerfile('kiln-root:debian-bookworm', [], gcc11).instructions.map((i) => i.text);
    assert.equal(from, 'FROM kiln-root:debian-bookworm');
    assert.deepEqual(rest, []);
    const encoded = /echo '([A-Za-z0-9+/=]+)' \| base64 -d/.exec(run!)?.[1];
    assert.equal(Buffer.from(encoded!, 'base64').toString('utf8'), 'script' in gcc11.install ? gcc11.install.script : '');
  });
});


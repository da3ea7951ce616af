// Where a plan becomes a Dockerfile. Pure. Component steps come only from the catalog; user values enter only as JSON
// exec-form arrays, a JSON-quoted COPY destination that already passed a strict grammar, or escaped ENV values.
import type { BuildPlan } from '../core/build-types.ts';
import type { ComponentVersion } from '../core/catalog/catalog.ts';
import { execInstruction, userEnvInstruction } from '../core/dockerfile-lines.ts';
import { BINARY_NAME } from '../core/composition/binary-placement.ts';

export interface Instruction {
  text: string;
  /** Which plan step this instruction belongs to: a component key, or `binary` for the user's part. */
  owner: string;
}

export interface RenderedBuild {
  dockerfile: string;
  /** In order; the engine counts these as Step 1..N (comments are not steps). */
  instructions: Instruction[];
}

/** Where the user's binary sits in the build context. */
export const BINARY_CONTEXT_PATH = BINARY_NAME;
/** Where the entries of an archive upload sit in the build context (a folder COPY puts into the target directory). */
export const ARCHIVE_CONTEXT_PATH = 'archive';


/**
 * A component's install as ONE RUN instruction, so that it makes exactly one layer: the layer composition takes from
 * a component build (builder/layer-job.ts) and the step a normal build caches are then the same instruction. A script
 * travels inside the instruction, base64-encoded (its alphabet needs no quoting), instead of a COPY that would make a
 * second layer.
 */
export function installInstruction(v: ComponentVersion): string {
  if ('packages' in v.install) {
    // Each component refreshes and then drops the apt lists, so every layer stands alone and stays small.
    return `RUN set -eux; apt-get update; DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${v.install.packages.join(' ')}; rm -rf /var/lib/apt/lists/*`;
  }
  const file = `/tmp/kiln-${v.name}-${v.version}.sh`;
  const encoded = Buffer.from(v.install.script, 'utf8').toString('base64');
  return `RUN set -eu; echo '${encoded}' | base64 -d > ${file}; sh -eu ${file}; rm -f ${file}`;
}

/** Catalog env is trusted data and may refer to earlier variables ($PATH), so it is not escaped. */
function envInstruction(v: ComponentVersion): string | undefined {
  const env = Object.entries(v.env);
  return env.length > 0 ? `ENV ${env.map(([k, val]) => `${k}="${val}"`).join(' ')}` : undefined;
}

/** FROM + the install steps of every component not already in the base, in the order given (canonical). */
function componentInstructions(baseImage: string, versions: ComponentVersion[], covered: ReadonlySet<string>): Instruction[] {
  const instructions: Instruction[] = [{ text: `FROM ${baseImage}`, owner: 'base' }];
  for (const v of versions.filter((v) => !covered.has(v.key))) {
    instructions.push({ text: installInstruction(v), owner: v.key });
    const env = envInstruction(v);
    if (env) instructions.push({ text: env, owner: v.key });
  }
  return instructions;
}

const header = '# Written by kiln from a build plan.\n';
const assemble = (instructions: Instruction[]): RenderedBuild => ({
  dockerfile: header + instructions.map((i) => i.text).join('\n') + '\n',
  instructions,
});

/**
 * `versions` are the catalog entries of plan.components, in the same order. The caller checks that their recipe
 * hashes still match the plan, so an image is never built from a recipe other than the one recorded.
 */
export function renderDockerfile(plan: BuildPlan, versions: ComponentVersion[]): RenderedBuild {
  // A template base already holds some components (with the same recipe hashes): install only the rest.
  const covered = new Set(plan.base.kind === 'template' ? plan.base.covers : []);
  const instructions = componentInstructions(plan.base.image, versions, covered);

  // An archive was re-packed, entry by entry, under a context folder: COPY puts that folder's contents into the
  // target directory. Never ADD, whose auto-extract would unpack whatever the archive holds.
  const source = plan.binary.kind === 'tar' ? ARCHIVE_CONTEXT_PATH : BINARY_CONTEXT_PATH;
  instructions.push({ text: `COPY ${JSON.stringify([source, plan.binary.path])}`, owner: 'binary' });
  const userEnv = userEnvInstruction(plan.env);
  if (userEnv) instructions.push({ text: userEnv, owner: 'binary' });
  instructions.push({ text: execInstruction('ENTRYPOINT', plan.entrypoint), owner: 'binary' });
  if (plan.cmd) instructions.push({ text: execInstruction('CMD', plan.cmd), owner: 'binary' });
  return assemble(instructions);
}

/**
 * A template: the same component steps a build would render (so a template's layers are the ones builds produce),
 * FROM the root or from a smaller template (`covered` = what that parent already holds), and no binary.
 */
export function renderTemplateDockerfile(baseImage: string, versions: ComponentVersion[], covered: ReadonlySet<string>): RenderedBuild {
  return assemble(componentInstructions(baseImage, versions, covered));
}

/**
 * A component layer: FROM the root, the install steps (and env) of what it requires exactly as a build renders them,
 * then its own one install instruction — and not its env, which goes into a composed image's config. So the steps
 * are the ones installed builds cache: a layer build reuses their cache, and they reuse its.
 */
export function renderLayerDockerfile(rootImage: string, base: ComponentVersion[], version: ComponentVersion): RenderedBuild {
  return assemble([...componentInstructions(rootImage, base, new Set()), { text: installInstruction(version), owner: version.key }]);
}

/** The owner of the lane step: neither a component nor the user's, and never a step of the build's record. */
export const LANE_OWNER = 'lane';

/** The ARG that names an engine lane (builder/engine-lanes.ts); its value is `<hex>.<digits>`, never user input. */
export const ENGINE_LANE_ARG = 'KILN_ENGINE_LANE';

/**
 * The rendered build with the lane step put where its own steps start (before the first `binary` instruction, or at
 * the end when the engine's label step is its only own step): the shared steps above it stay the layer cache, and
 * every image this build removes afterwards stands on the lane's image. Pure.
 */
export function withEngineLane(rendered: RenderedBuild, lane: string): RenderedBuild {
  if (!/^[0-9a-f]+\.[0-9]+$/.test(lane)) throw new Error(`not an engine lane: ${lane}`);
  const at = rendered.instructions.findIndex((i) => i.owner === 'binary');
  const instructions = [...rendered.instructions];
  instructions.splice(at === -1 ? instructions.length : at, 0, { text: `ARG ${ENGINE_LANE_ARG}=${lane}`, owner: LANE_OWNER });
  return assemble(instructions);
}

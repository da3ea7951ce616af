// Checks a rendered Dockerfile with a real Dockerfile parser (dockerfile-ast): it must hold exactly the instructions
// the plan intended — the catalog's steps, one COPY of the upload, the user's ENV, ENTRYPOINT and CMD as literals —
// and nothing a user string could have added, split or expanded.
import assert from 'node:assert/strict';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { planVersions } from '../../builder/build-job.ts';
import { ARCHIVE_CONTEXT_PATH, BINARY_CONTEXT_PATH, renderDockerfile } from '../../builder/dockerfile-render.ts';
import type { BuildPlan } from '../../core/build-types.ts';
import type { Catalog } from '../../core/catalog/catalog.ts';

/** What the user asked for, as literals: what the image must get, byte for byte. */
export interface UserValues {
  binaryPath: string;
  entrypoint: string[];
  cmd?: string[];
  env?: Record<string, string>;
}

const benign: Pick<BuildPlan, 'entrypoint' | 'env'> & { path: string } = { entrypoint: ['/bin/true'], env: {}, path: '/opt/app/app' };

const jsonStrings = (i: Instruction): string[] => {
  const raw = i.getRawArgumentsContent() ?? '';
  // What the engine does with an exec-form line: JSON-decode it (Go's encoding/json and JSON.parse agree on strings).
  const parsed: unknown = JSON.parse(raw);
  assert.ok(Array.isArray(parsed) && parsed.every((s) => typeof s === 'string'), `${i.getKeyword()} is not in exec form: ${raw}`);
  const ast = (i as unknown as { getJSONStrings(): { getJSONValue(): string }[] }).getJSONStrings().map((s) => s.getJSONValue());
  assert.equal(ast.length, parsed.length, `the parser sees ${ast.length} strings in ${i.getKeyword()}, JSON has ${parsed.length}`);
  return parsed as string[];
};

/** Asserts the Dockerfile rendered from `plan` is exactly what the plan meant; returns it for further checks. */
export function assertPlannedDockerfile(catalog: Catalog, plan: BuildPlan, user: UserValues): string {
  const versions = planVersions(catalog, plan);
  const rendered = renderDockerfile(plan, versions);
  const dockerfile = DockerfileParser.parse(rendered.dockerfile);

  // No parser directive (`# escape=`, `# syntax=`) and no comment but kiln's own header.
  assert.deepEqual(dockerfile.getDirectives(), [], 'no parser directives');
  assert.equal(dockerfile.getComments().length, 1, 'only the header comment');
  assert.equal(dockerfile.getFROMs().length, 1, 'one stage');

  // The catalog's part does not depend on user values: it must equal a render of the same plan with benign ones.
  const reference = renderDockerfile({ ...plan, ...benign, binary: { ...plan.binary, path: benign.path } }, versions);
  const componentTexts = reference.instructions.filter((i) => i.owner !== 'binary').map((i) => i.text);
  const instructions = dockerfile.getInstructions();
  const expectedKeywords = [
    ...reference.instructions.filter((i) => i.owner !== 'binary').map((i) => i.text.split(' ')[0]!),
    'COPY',
    ...(Object.keys(user.env ?? {}).length > 0 ? ['ENV'] : []),
    'ENTRYPOINT',
    ...(user.cmd ? ['CMD'] : []),
  ];
  assert.deepEqual(instructions.map((i) => i.getKeyword()), expectedKeywords, 'exactly the planned instructions');
  componentTexts.forEach((text, n) => assert.equal(instructions[n]!.toString(), text, `catalog step ${n} as the catalog wrote it`));
  const runs = instructions.filter((i) => i.getKeyword() === 'RUN').length;
  assert.equal(runs, componentTexts.filter((t) => t.startsWith('RUN ')).length, 'every RUN comes from the catalog');

  const rest = instructions.slice(componentTexts.length);
  const copy = rest.shift()!;
  assert.deepEqual(jsonStrings(copy), [plan.binary.kind === 'tar' ? ARCHIVE_CONTEXT_PATH : BINARY_CONTEXT_PATH, user.binaryPath], 'one COPY of the upload');
  assert.deepEqual((copy as unknown as { getFlags(): unknown[] }).getFlags(), [], 'COPY without flags');
  if (Object.keys(user.env ?? {}).length > 0) {
    const env = rest.shift()! as unknown as Instruction & { getProperties(): { getName(): string; getValue(): string | null }[] };
    // The parser keeps `\$` (the engine makes it a literal `$`): every `$` of a user value must arrive escaped.
    // Key order is not meaning (values cannot refer to each other) and jsonb does not keep it: compare sorted.
    const byKey = (a: (string | null)[], b: (string | null)[]) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0);
    const seen = env.getProperties().map((p) => [p.getName(), p.getValue()]).sort(byKey);
    const want = Object.entries(user.env!).map(([k, v]) => [k, v.replace(/\$/g, '\\$')]).sort(byKey);
    assert.deepEqual(seen, want, 'ENV holds exactly the literal values');
    assert.deepEqual(env.getVariables().map((v) => v.getName()), [], 'no variable is expanded in user ENV values');
  }
  assert.deepEqual(jsonStrings(rest.shift()!), user.entrypoint, 'ENTRYPOINT as asked');
  if (user.cmd) assert.deepEqual(jsonStrings(rest.shift()!), user.cmd, 'CMD as asked');
  assert.equal(rest.length, 0, 'nothing after the planned instructions');
  return rendered.dockerfile;
}

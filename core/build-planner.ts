// Where a build request becomes a plan: validates the spec against the catalog, the upload and the grammars,
// listing every problem at once, and resolves it into what the builder renders. Pure: all I/O happens before.
import type { BuildPlan, BuildSpec } from './build-types.ts';
import type { Catalog } from './catalog/catalog.ts';
import { resolveComponents } from './catalog/component-resolver.ts';
import type { UploadRow } from './db/schema/uploads.ts';
import { execInstruction, lineTooLong, userEnvInstruction } from './dockerfile-lines.ts';
import type { Problem } from './errors.ts';
import { checkBinaryPath, checkEnvKey, checkPlainText, parseImageName } from './spec-grammar.ts';

export interface PlanContext {
  catalog: Catalog;
  /** The upload the spec names, if it exists (and is visible to the caller). No kind: a file. */
  upload: (Omit<UploadRow, 'kind' | 'entries' | 'unpackedSize'> & Partial<Pick<UploadRow, 'kind' | 'entries' | 'unpackedSize'>>) | undefined;
  registryHost: string;
  registryPrefix: string;
  /** The caller's project: its images live under registryPrefix/<project>/, apart from every other project's. */
  project: string;
  rootImagePrefix: string;
}

export type PlanResult = { ok: true; plan: BuildPlan } | { ok: false; problems: Problem[] };

export function rootImageName(prefix: string, root: string): string {
  return `${prefix}:${root}`;
}

export function planBuild(spec: BuildSpec, ctx: PlanContext): PlanResult {
  const problems: Problem[] = [];

  const root = ctx.catalog.roots.get(spec.root);
  if (!root) problems.push({ field: 'root', message: `unknown root "${spec.root}" (known: ${[...ctx.catalog.roots.keys()].join(', ')})` });

  const resolution = resolveComponents(ctx.catalog, spec.root, spec.components);
  problems.push(...resolution.problems);

  if (!ctx.upload) problems.push({ field: 'uploadId', message: `no upload "${spec.uploadId}"` });

  const pathProblem = checkBinaryPath(spec.binaryPath);
  if (pathProblem) problems.push({ field: 'binaryPath', message: pathProblem });

  if (spec.entrypoint.length === 0) problems.push({ field: 'entrypoint', message: 'must have at least one element' });
  for (const [name, list] of [['entrypoint', spec.entrypoint], ['cmd', spec.cmd ?? []]] as const) {
    list.forEach((arg, i) => {
      const p = checkPlainText(arg, 4096);
      if (p) problems.push({ field: `${name}[${i}]`, message: p });
    });
  }

  for (const [key, value] of Object.entries(spec.env ?? {})) {
    const k = checkEnvKey(key);
    if (k) problems.push({ field: `env`, message: k });
    const v = checkPlainText(value, 8192);
    if (v) problems.push({ field: `env.${checkEnvKey(key) ? '?' : key}`, message: v });
  }

  // Each value may be fine and their line still too long for the engine: refused now, not when the build runs.
  const lines = [
    ['env', userEnvInstruction(spec.env ?? {})],
    ['entrypoint', execInstruction('ENTRYPOINT', spec.entrypoint)],
    ['cmd', spec.cmd ? execInstruction('CMD', spec.cmd) : undefined],
  ] as const;
  for (const [field, line] of lines) {
    const tooLong = lineTooLong(line);
    if (tooLong) problems.push({ field, message: tooLong });
  }

  const image = parseImageName(spec.image);
  if (typeof image === 'string') problems.push({ field: 'image', message: image });

  if (problems.length > 0 || !root || !ctx.upload || typeof image === 'string') {
    return { ok: false, problems };
  }
  const rootImage = rootImageName(ctx.rootImagePrefix, root.name);
  return {
    ok: true,
    plan: {
      root: { name: root.name, image: rootImage },
      base: { kind: 'root', image: rootImage },
      components: resolution.components.map((v) => ({ name: v.name, version: v.version, key: v.key, recipeHash: v.recipeHash })),
      binary: {
        uploadId: ctx.upload.id,
        sha256: ctx.upload.sha256,
        size: ctx.upload.size,
        s3Key: ctx.upload.s3Key,
        path: spec.binaryPath,
        // Only archives say their kind, so the plan of a file upload is the same as before archives existed.
        ...(ctx.upload.kind === 'tar'
          ? { kind: 'tar' as const, entries: ctx.upload.entries ?? 0, unpackedSize: ctx.upload.unpackedSize ?? 0 }
          : {}),
      },
      entrypoint: spec.entrypoint,
      ...(spec.cmd ? { cmd: spec.cmd } : {}),
      env: spec.env ?? {},
      imageRef: `${ctx.registryHost}/${ctx.registryPrefix}/${ctx.project}/${image.repository}:${image.tag}`,
      ...(spec.route === 'install' ? { route: 'install' as const } : {}),
    },
  };
}

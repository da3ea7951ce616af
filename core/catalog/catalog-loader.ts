// Reads base-images/ into a Catalog, validating schema, references and cycles, and failing with every problem found.
//
// Layout:  roots/<root>.yaml
//          components/<name>/component.yaml     (description, rank, default version)
//          components/<name>/<version>.yaml     (one file per version: adding a version is adding a file)
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { componentFileSchema, rootFileSchema, versionFileSchema } from './catalog-schema.ts';
import { CatalogError, type Catalog, type CatalogRoot, type Component, type ComponentVersion } from './catalog.ts';
import { recipeHash } from './recipe-hash.ts';

const yamlFile = /\.ya?ml$/;

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function readYaml<S extends z.ZodType>(
  file: string,
  schema: S,
  problems: string[],
  rel: string,
): Promise<z.infer<S> | undefined> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (err) {
    problems.push(`${rel}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${rel}: ${issue.path.join('.') || '(file)'}: ${issue.message}`);
    return undefined;
  }
  return parsed.data;
}

export async function loadCatalog(dir: string): Promise<Catalog> {
  const problems: string[] = [];
  const roots = new Map<string, CatalogRoot>();
  const components = new Map<string, Component>();

  for (const f of (await listDir(path.join(dir, 'roots'))).filter((f) => yamlFile.test(f))) {
    const rel = `roots/${f}`;
    const root = await readYaml(path.join(dir, 'roots', f), rootFileSchema, problems, rel);
    if (!root) continue;
    if (root.name !== f.replace(yamlFile, '')) problems.push(`${rel}: name "${root.name}" does not match the file name`);
    roots.set(root.name, { ...root, file: rel });
  }
  if (roots.size === 0 && problems.length === 0) problems.push('roots/: no root defined');

  for (const name of await listDir(path.join(dir, 'components'))) {
    const compDir = path.join(dir, 'components', name);
    const files = (await listDir(compDir)).filter((f) => yamlFile.test(f));
    const metaFile = files.find((f) => f.replace(yamlFile, '') === 'component');
    const relMeta = `components/${name}/${metaFile ?? 'component.yaml'}`;
    if (!metaFile) {
      problems.push(`${relMeta}: missing (every component folder needs one)`);
      continue;
    }
    const meta = await readYaml(path.join(compDir, metaFile), componentFileSchema, problems, relMeta);
    if (!meta) continue;
    if (meta.name !== name) problems.push(`${relMeta}: name "${meta.name}" does not match its folder "${name}"`);
    const component: Component = { ...meta, file: relMeta, versions: new Map() };
    for (const f of files.filter((f) => f !== metaFile)) {
      const rel = `components/${name}/${f}`;
      const v = await readYaml(path.join(compDir, f), versionFileSchema, problems, rel);
      if (!v) continue;
      if (v.name !== name) problems.push(`${rel}: name "${v.name}" does not match its folder "${name}"`);
      if (v.version !== f.replace(yamlFile, '')) problems.push(`${rel}: version "${v.version}" does not match the file name`);
      const cv: ComponentVersion = { ...v, key: `${v.name}@${v.version}`, recipeHash: recipeHash(v), file: rel };
      component.versions.set(v.version, cv);
    }
    if (!component.versions.has(component.default)) {
      problems.push(`${relMeta}: default version "${component.default}" has no file ${component.default}.yaml`);
    }
    components.set(name, component);
  }

  problems.push(...checkReferences({ roots, components }));
  problems.push(...checkCycles(components));
  if (problems.length > 0) throw new CatalogError(problems);
  return { roots, components };
}

/** Every root and component a version names must exist; a required component must install earlier (lower rank). */
function checkReferences(catalog: Catalog): string[] {
  const problems: string[] = [];
  for (const comp of catalog.components.values()) {
    for (const v of comp.versions.values()) {
      for (const r of v.roots) {
        if (!catalog.roots.has(r)) problems.push(`${v.file}: roots: unknown root "${r}"`);
      }
      for (const [kind, list] of [['requires', v.requires], ['conflicts', v.conflicts]] as const) {
        for (const c of list) {
          const target = catalog.components.get(c.component);
          if (!target) problems.push(`${v.file}: ${kind}: unknown component "${c.component}"`);
          else if (kind === 'requires' && target.rank >= comp.rank && target.name !== comp.name) {
            problems.push(
              `${v.file}: requires "${c.component}" (rank ${target.rank}) which must rank below "${comp.name}" (rank ${comp.rank}) so it installs first`,
            );
          }
        }
      }
    }
  }
  return problems;
}

/** A component that (transitively) requires itself can never be satisfied. */
function checkCycles(components: Map<string, Component>): string[] {
  const edges = new Map<string, Set<string>>();
  for (const c of components.values()) {
    const out = new Set<string>();
    for (const v of c.versions.values()) for (const r of v.requires) out.add(r.component);
    edges.set(c.name, out);
  }
  const problems: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string, trail: string[]): void => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(n)), n];
      problems.push(`${components.get(n)?.file ?? n}: requires cycle ${cycle.join(' -> ')}`);
      return;
    }
    state.set(n, 'visiting');
    for (const m of edges.get(n) ?? []) if (components.has(m)) visit(m, [...trail, n]);
    state.set(n, 'done');
  };
  for (const n of edges.keys()) visit(n, []);
  return problems;
}

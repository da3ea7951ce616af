// Three-way merges of the shared state files (see shared-state.ts): each layer's copy is compared with the base's
// (the root's, or what its requires put under it) and only what a layer changed counts. Two layers changing the same
// record differently — the same package at two versions, one user with two ids — is a conflict, never a guess. Pure.
import type { SharedState } from './shared-state.ts';

export interface StateVersion {
  /** The layer that wrote it (a component key), for conflict messages. */
  layer: string;
  /** The layer's whole copy of the file; undefined when the layer deleted it. */
  text: string | undefined;
}

export interface MergeResult {
  text: string;
  /** Record keys two layers changed differently: not composable. */
  conflicts: string[];
}

type Keyed = { items: Map<string, string>; order: string[] };

function paragraphs(text: string): string[] {
  return text
    .split(/\n\s*\n/)
    .map((p) => p.replace(/^\n+|\n+$/g, ''))
    .filter((p) => p.trim() !== '');
}

const field = (paragraph: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(paragraph)?.[1]?.trim() ?? '';

function keyedParagraphs(text: string, key: 'package' | 'name'): Keyed {
  const items = new Map<string, string>();
  for (const p of paragraphs(text)) {
    const k = key === 'package' ? `${field(p, 'Package')}:${field(p, 'Architecture')}` : field(p, 'Name');
    items.set(k, p);
  }
  return { items, order: [...items.keys()] };
}

function keyedLines(text: string, key: 'first-field' | 'line' | 'second-field'): Keyed {
  const items = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const k = key === 'line' ? line : key === 'first-field' ? line.split(':')[0]! : (line.split(/\s+/)[1] ?? line);
    items.set(k, line);
  }
  return { items, order: [...items.keys()] };
}

function keyedDiversions(text: string): Keyed {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const items = new Map<string, string>();
  for (let i = 0; i + 2 < lines.length; i += 3) items.set(lines[i]!, `${lines[i]}\n${lines[i + 1]}\n${lines[i + 2]}`);
  return { items, order: [...items.keys()] };
}

/** The three-way merge of keyed records: base, then every layer's changes (added, changed or removed records). */
function mergeKeyed(base: Keyed, versions: { layer: string; keyed: Keyed }[]): { items: Map<string, string>; order: string[]; conflicts: string[] } {
  const items = new Map(base.items);
  const order = [...base.order];
  const changedBy = new Map<string, string>();
  const conflicts = new Set<string>();
  const change = (key: string, layer: string, value: string | undefined) => {
    const earlier = changedBy.get(key);
    if (earlier !== undefined && items.get(key) !== value) {
      conflicts.add(`${key} (${earlier} and ${layer})`);
      return;
    }
    changedBy.set(key, layer);
    if (value === undefined) items.delete(key);
    else {
      if (!items.has(key) && !order.includes(key)) order.push(key);
      items.set(key, value);
    }
  };
  for (const { layer, keyed } of versions) {
    for (const [key, value] of keyed.items) if (base.items.get(key) !== value) change(key, layer, value);
    for (const key of base.items.keys()) if (!keyed.items.has(key)) change(key, layer, undefined);
  }
  return { items, order: order.filter((k) => items.has(k)), conflicts: [...conflicts] };
}

export function mergeState(kind: SharedState, base: string | undefined, versions: StateVersion[]): MergeResult {
  switch (kind.merge) {
    case 'paragraphs': {
      const parse = (t: string | undefined) => keyedParagraphs(t ?? '', kind.key);
      const m = mergeKeyed(parse(base), versions.map((v) => ({ layer: v.layer, keyed: parse(v.text) })));
      // dpkg and debconf write their databases sorted; so does kiln, so that the same inputs make the same bytes.
      const keys = [...m.items.keys()].sort();
      return { text: keys.map((k) => `${m.items.get(k)}\n`).join('\n'), conflicts: m.conflicts };
    }
    case 'lines': {
      const parse = (t: string | undefined) => keyedLines(t ?? '', kind.key);
      const m = mergeKeyed(parse(base), versions.map((v) => ({ layer: v.layer, keyed: parse(v.text) })));
      return { text: m.order.map((k) => `${m.items.get(k)}\n`).join(''), conflicts: m.conflicts };
    }
    case 'diversions': {
      const parse = (t: string | undefined) => keyedDiversions(t ?? '');
      const m = mergeKeyed(parse(base), versions.map((v) => ({ layer: v.layer, keyed: parse(v.text) })));
      return { text: m.order.map((k) => `${m.items.get(k)}\n`).join(''), conflicts: m.conflicts };
    }
    case 'alternatives':
      return mergeAlternatives(base, versions);
    case 'apt-marks':
      throw new Error('apt marks are merged with the dpkg status beside them (mergeAptMarks)');
    default:
      throw new Error(`${kind.merge} state is not merged from its versions`);
  }
}

/** One alternatives group as dpkg's update-alternatives writes it (see its `alternative_save`). */
export interface AlternativesGroup {
  mode: 'auto' | 'manual';
  link: string;
  slaves: { name: string; link: string }[];
  choices: { path: string; priority: number; slaves: string[] }[];
}

export function parseAlternatives(text: string): AlternativesGroup {
  const lines = text.split('\n');
  let i = 0;
  const next = () => {
    if (i >= lines.length) throw new Error('alternatives file ends early');
    return lines[i++]!;
  };
  const mode = next();
  if (mode !== 'auto' && mode !== 'manual') throw new Error(`alternatives mode "${mode}"`);
  const link = next();
  const slaves: AlternativesGroup['slaves'] = [];
  for (let name = next(); name !== ''; name = next()) slaves.push({ name, link: next() });
  const choices: AlternativesGroup['choices'] = [];
  for (let path = next(); path !== ''; path = next()) {
    const priority = Number(next());
    if (!Number.isFinite(priority)) throw new Error(`alternatives priority of ${path}`);
    choices.push({ path, priority, slaves: slaves.map(() => next()) });
  }
  return { mode, link, slaves, choices };
}

export function serializeAlternatives(g: AlternativesGroup): string {
  const out = [g.mode, g.link, ...g.slaves.flatMap((s) => [s.name, s.link]), ''];
  for (const c of g.choices) out.push(c.path, String(c.priority), ...c.slaves);
  return `${out.join('\n')}\n\n`;
}

/** The choice update-alternatives makes in auto mode: the highest priority, the first of equals. */
export function bestChoice(g: AlternativesGroup): AlternativesGroup['choices'][number] | undefined {
  return g.choices.reduce<AlternativesGroup['choices'][number] | undefined>((best, c) => (!best || c.priority > best.priority ? c : best), undefined);
}

function mergeAlternatives(base: string | undefined, versions: StateVersion[]): MergeResult {
  const changed = versions.filter((v) => v.text !== base);
  if (changed.length === 0) return { text: base ?? '', conflicts: [] };
  if (changed.length === 1 || changed.every((v) => v.text === changed[0]!.text)) return { text: changed[0]!.text ?? '', conflicts: [] };
  const layers = changed.map((v) => v.layer).join(' and ');
  if (changed.some((v) => v.text === undefined)) return { text: '', conflicts: [`group removed by one of ${layers}`] };
  let groups: AlternativesGroup[];
  try {
    groups = changed.map((v) => parseAlternatives(v.text!));
  } catch (err) {
    return { text: '', conflicts: [`unreadable group (${(err as Error).message}) from ${layers}`] };
  }
  const first = groups[0]!;
  const sameShape = groups.every((g) => g.link === first.link && JSON.stringify(g.slaves) === JSON.stringify(first.slaves));
  if (!sameShape) return { text: '', conflicts: [`different links or slaves from ${layers}`] };
  if (groups.some((g) => g.mode === 'manual')) return { text: '', conflicts: [`a manual choice in ${layers}`] };
  const choices = new Map<string, AlternativesGroup['choices'][number]>();
  for (const g of groups) {
    for (const c of g.choices) {
      const had = choices.get(c.path);
      if (had && JSON.stringify(had) !== JSON.stringify(c)) return { text: '', conflicts: [`choice ${c.path} differs between ${layers}`] };
      choices.set(c.path, c);
    }
  }
  return { text: serializeAlternatives({ ...first, choices: [...choices.values()] }), conflicts: [] };
}

/** A layer's (or the root's) apt marks and the dpkg status beside them; undefined: the file is absent. */
export interface MarksVersion {
  layer: string;
  marks: string | undefined;
  status: string | undefined;
}

/** `name:arch` of every package dpkg lists as installed. */
function installedPackages(status: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const p of paragraphs(status ?? '')) if (/^install ok installed$/.test(field(p, 'Status'))) out.add(`${field(p, 'Package')}:${field(p, 'Architecture')}`);
  return out;
}

/** The packages apt marked automatically installed (`Auto-Installed: 1`), by `name:arch`; other entries mean manual. */
function autoMarks(marks: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of paragraphs(marks ?? '')) if (field(p, 'Auto-Installed') === '1') out.set(`${field(p, 'Package')}:${field(p, 'Architecture')}`, p);
  return out;
}

/**
 * apt's auto/manual marks of a combination, as installing its components one after the other would leave them. A
 * package is manual when it has no `Auto-Installed: 1` entry, so a plain three-way merge of extended_states reads a
 * layer that installed a package by name ("manual": no entry, as in the root) as "no change", and a layer that pulled
 * the same package in as a dependency would win: `apt-get autoremove` would then remove what a component asked for.
 * So the marks are read beside each layer's dpkg status: a package a layer installed (not installed in the root) and
 * did not mark auto is manual, and manual wins, as with apt (`apt-get install` of an auto package marks it manual; a
 * dependency never makes a manual package auto). A package the root marks auto stays auto unless a layer marked it
 * manual, and goes when a layer removed it. Marks never conflict. Architecture `all` in dpkg's status is apt's native
 * architecture in its marks, so a package is matched by name where dpkg says `all`.
 */
export function mergeAptMarks(base: Omit<MarksVersion, 'layer'>, versions: readonly MarksVersion[]): MergeResult {
  const baseInstalled = installedPackages(base.status);
  const baseAuto = autoMarks(base.marks);
  const auto = new Map(baseAuto);
  const manual = new Set<string>();
  const removed = new Set<string>();
  const name = (key: string) => key.slice(0, key.lastIndexOf(':'));
  const matches = (statusKey: string, markKey: string) => statusKey === markKey || (statusKey.endsWith(':all') && name(statusKey) === name(markKey));
  for (const v of versions) {
    const installed = installedPackages(v.status ?? base.status);
    const marked = autoMarks(v.marks ?? base.marks);
    for (const [key, paragraph] of marked) if (!baseAuto.has(key)) auto.set(key, paragraph);
    for (const key of installed) {
      const isAuto = [...marked.keys()].some((m) => matches(key, m));
      if (!isAuto && (!baseInstalled.has(key) || [...baseAuto.keys()].some((m) => matches(key, m)))) manual.add(key);
    }
    for (const key of baseInstalled) if (!installed.has(key)) removed.add(key);
  }
  const keep = [...auto.keys()].filter((m) => ![...manual, ...removed].some((k) => matches(k, m))).sort();
  return { text: keep.map((k) => `${auto.get(k)}\n`).join('\n'), conflicts: [] };
}

// The form's pure decisions: which picked components clash (with the catalog's reasons, before kiln is asked),
// what an entrypoint line means, and sensible defaults from the uploaded file's name.
import { satisfies } from '../../../core/catalog/catalog.ts';
import type { Catalog, CatalogComponent, Template } from './api.ts';

export interface Picked {
  name: string;
  version: string;
}

const versionsOf = (c: CatalogComponent | undefined, range: string | undefined) =>
  (c?.versions ?? []).filter((v) => satisfies(v.version, range)).map((v) => v.version);

const orList = (xs: string[]) => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} or ${xs.at(-1)}`);

/** Client-side problems per component name, in words; the server checks the same rules again on submit. */
export function pickProblems(catalog: Catalog, root: string, picked: Picked[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (name: string, message: string) => out.set(name, [...(out.get(name) ?? []), message]);
  const byName = new Map(picked.map((p) => [p.name, p]));
  const component = (name: string) => catalog.components.find((c) => c.name === name);
  for (const p of picked) {
    const v = component(p.name)?.versions.find((x) => x.version === p.version);
    if (!v) continue;
    if (!v.roots.includes(root)) add(p.name, `${p.name} ${p.version} is not available on ${root} (only on ${v.roots.join(', ')}).`);
    for (const req of v.requires) {
      const other = byName.get(req.component);
      const range = req.versions ? ` ${req.versions}` : '';
      const fits = versionsOf(component(req.component), req.versions);
      const fix = fits.length ? ` Also pick ${req.component} ${orList(fits)}.` : '';
      const why = req.reason ? ` Why: ${req.reason}` : '';
      if (!other) add(p.name, `${p.name} ${p.version} needs ${req.component}${range}.${fix}${why}`);
      else if (!satisfies(other.version, req.versions)) {
        const msg = `${p.name} ${p.version} needs ${req.component}${range}, not ${req.component} ${other.version}.${fits.length ? ` Choose ${orList(fits)}.` : ''}${why}`;
        add(p.name, msg);
        add(other.name, msg);
      }
    }
    for (const con of v.conflicts) {
      const other = byName.get(con.component);
      if (other && satisfies(other.version, con.versions)) {
        const msg = `${p.name} ${p.version} cannot be installed with ${other.name} ${other.version}.${con.reason ? ` Why: ${con.reason}` : ''}`;
        add(p.name, msg);
        add(other.name, msg);
      }
    }
  }
  return out;
}

/** Estimated install seconds of the picks, from the catalog's cost estimates. */
export function installEstimate(catalog: Catalog, picked: Picked[]): number {
  let total = 0;
  for (const p of picked) total += catalog.components.find((c) => c.name === p.name)?.versions.find((v) => v.version === p.version)?.costEstimateSeconds ?? 0;
  return total;
}

/** The ready template a build of these picks would most likely start FROM: all its components picked, same recipes. */
export function coveringTemplate(catalog: Catalog, root: string, picked: Picked[], templates: Template[]): { template: Template; seconds: number } | undefined {
  const hashes = new Map<string, { hash: string; cost: number }>();
  for (const p of picked) {
    const v = catalog.components.find((c) => c.name === p.name)?.versions.find((x) => x.version === p.version);
    if (v) hashes.set(v.key, { hash: v.recipeHash, cost: v.costEstimateSeconds });
  }
  let best: { template: Template; seconds: number } | undefined;
  for (const t of templates) {
    if (t.status !== 'ready' || t.root !== root || t.components.length === 0) continue;
    if (!t.components.every((c) => hashes.get(c.key)?.hash === c.recipeHash)) continue;
    const seconds = t.components.reduce((s, c) => s + (hashes.get(c.key)?.cost ?? 0), 0);
    if (!best || seconds > best.seconds) best = { template: t, seconds };
  }
  return best;
}

/**
 * An entrypoint as typed: a JSON array (`["java", "-jar", "app.jar"]`) or a command line split like a shell would
 * (quotes group, backslash escapes), without running any shell.
 */
export function parseCommand(line: string): { argv: string[] } | { error: string } {
  const text = line.trim();
  if (text === '') return { error: 'Enter the command that starts your program.' };
  if (text.startsWith('[')) {
    try {
      const v: unknown = JSON.parse(text);
      if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return { argv: v };
    } catch {
      // fall through to the message below
    }
    return { error: 'A line starting with [ must be a JSON array of strings, e.g. ["java", "-jar", "/opt/app/app.jar"].' };
  }
  const argv: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) argv.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) return { error: `A ${quote} quote is not closed.` };
  if (inWord) argv.push(cur);
  return { argv };
}

/** `KEY=value` lines (blank lines and # comments skipped). */
export function parseEnv(text: string): { env: Record<string, string> } | { error: string } {
  const env: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return { error: `Line ${i + 1} is not KEY=value.` };
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return { env };
}

/** Where the binary goes, how it starts, and what the image is called, guessed from the file name. */
export function suggestions(filename: string): { binaryPath: string; entrypoint: string; image: string } {
  const safeFile = filename.replace(/[^A-Za-z0-9._-]/g, '_') || 'app';
  const binaryPath = safeFile.endsWith('.jar') ? `/opt/app/${safeFile}` : `/usr/local/bin/${safeFile}`;
  const base = safeFile.replace(/\.[A-Za-z0-9]+$/, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'app';
  return { binaryPath, entrypoint: commandFor(binaryPath), image: `${base}:latest` };
}

export function commandFor(binaryPath: string): string {
  return binaryPath.endsWith('.jar') ? `java -jar ${binaryPath}` : binaryPath;
}

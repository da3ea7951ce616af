// Turns what a user typed (`jdk`, `openssl@3`) into catalog versions in canonical order, listing every problem at once.
import type { Problem } from '../errors.ts';
import { satisfies, type Catalog, type ComponentVersion } from './catalog.ts';
import { canonicalOrder } from './canonical-order.ts';

const requestSyntax = /^([a-z][a-z0-9-]{0,39})(?:@([0-9A-Za-z][0-9A-Za-z.+-]{0,39}))?$/;

export interface Resolution {
  components: ComponentVersion[];
  problems: Problem[];
}

export function resolveComponents(catalog: Catalog, rootName: string, requested: string[], field = 'components'): Resolution {
  const problems: Problem[] = [];
  const picked = new Map<string, { v: ComponentVersion; at: string }>();

  requested.forEach((raw, i) => {
    const at = `${field}[${i}]`;
    const m = requestSyntax.exec(raw);
    if (!m) {
      problems.push({ field: at, message: `"${raw}" is not of the form name or name@version` });
      return;
    }
    const [, name, version] = m as unknown as [string, string, string | undefined];
    const component = catalog.components.get(name);
    if (!component) {
      const known = [...catalog.components.keys()].join(', ');
      problems.push({ field: at, message: `unknown component "${name}" (known: ${known})` });
      return;
    }
    const wanted = version ?? component.default;
    const v = component.versions.get(wanted);
    if (!v) {
      const versions = [...component.versions.keys()].join(', ');
      problems.push({ field: at, message: `unknown version "${wanted}" of ${name} (versions: ${versions})` });
      return;
    }
    const earlier = picked.get(name);
    if (earlier) {
      problems.push({ field: at, message: `${name} is asked twice (${earlier.v.key} at ${earlier.at} and ${v.key})` });
      return;
    }
    if (catalog.roots.has(rootName) && !v.roots.includes(rootName)) {
      problems.push({ field: at, message: `${v.key} does not support root "${rootName}" (supports: ${v.roots.join(', ')})` });
    }
    picked.set(name, { v, at });
  });

  problems.push(...checkConstraints(picked));
  return { components: canonicalOrder([...picked.values()].map((p) => p.v), catalog), problems };
}

/** requires/conflicts between the chosen versions, naming both sides of every broken rule. */
function checkConstraints(picked: Map<string, { v: ComponentVersion; at: string }>): Problem[] {
  const problems: Problem[] = [];
  for (const { v, at } of picked.values()) {
    for (const req of v.requires) {
      const other = picked.get(req.component)?.v;
      const range = req.versions ? ` ${req.versions}` : '';
      const why = req.reason ? `: ${req.reason}` : '';
      if (!other) {
        problems.push({ field: at, message: `${v.key} requires ${req.component}${range}, which is not in the request${why}` });
      } else if (!satisfies(other.version, req.versions)) {
        problems.push({ field: at, message: `${v.key} requires ${req.component}${range}, but the request has ${other.key}${why}` });
      }
    }
    for (const con of v.conflicts) {
      const other = picked.get(con.component)?.v;
      if (other && satisfies(other.version, con.versions)) {
        const why = con.reason ? `: ${con.reason}` : '';
        problems.push({ field: at, message: `${v.key} conflicts with ${other.key}${why}` });
      }
    }
  }
  return problems;
}

// What a component's install script says about removing packages again, and what an image's package lists show about
// it. Pure: the component-smoke test feeds it dpkg's and apt's answers from the images it builds.

/** The script's logical lines: continuation backslashes joined, comments dropped. */
function commandLines(script: string): string[] {
  return script
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
    .filter((l) => l.length > 0);
}

/** True when the script removes packages again (apt-get purge / remove / autoremove, or --auto-remove). */
export function removesPackages(script: string): boolean {
  return commandLines(script).some((l) => /\bapt-get\b.*(\s(purge|remove|autoremove)\b|\s--auto-remove\b)/.test(l));
}

/**
 * The packages the script installs with `apt-get install --mark-auto`: its build tools, which it means to remove
 * again (a package the image already held keeps its mark, so only those the script added go).
 */
export function buildTools(script: string): string[] {
  const tools: string[] = [];
  for (const line of commandLines(script)) {
    for (const cmd of line.split(/&&|;|\|\|/)) {
      const words = cmd.trim().split(/\s+/);
      const at = words.indexOf('apt-get');
      if (at < 0 || words[at + 1] !== 'install' || !words.includes('--mark-auto')) continue;
      // Package names: the words after `install` that are not options (nor an option's value: apt-get's -o takes one).
      for (let i = at + 2; i < words.length; i++) {
        if (words[i] === '-o' || words[i] === '-t') i++;
        else if (!words[i]!.startsWith('-')) tools.push(words[i]!.replace(/[=/].*$/, ''));
      }
    }
  }
  return tools;
}

export interface LeftoverReport {
  /** Packages the image held before the component that it no longer holds. */
  removed: string[];
  /** Build tools the component installed that are still there. */
  toolsLeft: string[];
  /** Packages the component added that nothing in the image needs (apt would autoremove them, suggestions aside). */
  unneeded: string[];
}

/**
 * Compares the installed packages before a component (`before`) and after it (`after`). `autoremovable` is what
 * `apt-get -s autoremove -o APT::AutoRemove::SuggestsImportant=false` lists in the after image.
 */
export function leftovers(tools: string[], before: Set<string>, after: Set<string>, autoremovable: Set<string>): LeftoverReport {
  const added = [...after].filter((p) => !before.has(p));
  return {
    removed: [...before].filter((p) => !after.has(p)).sort(),
    toolsLeft: tools.filter((p) => after.has(p) && !before.has(p)).sort(),
    unneeded: added.filter((p) => autoremovable.has(p)).sort(),
  };
}

/** Parses `dpkg-query -W -f '${Package} ${Status}\n'` output: the packages dpkg reports installed. */
export function installedFrom(dpkgQuery: string): Set<string> {
  const out = new Set<string>();
  for (const line of dpkgQuery.split('\n')) {
    const m = /^(\S+) install ok installed$/.exec(line.trim());
    if (m) out.add(m[1]!.replace(/:.*$/, ''));
  }
  return out;
}

/** Parses `apt-get -s autoremove` output: the packages it would remove (`Remv name [version]`). */
export function removalsFrom(aptSimulate: string): Set<string> {
  const out = new Set<string>();
  for (const line of aptSimulate.split('\n')) {
    const m = /^Remv (\S+)/.exec(line.trim());
    if (m) out.add(m[1]!.replace(/:.*$/, ''));
  }
  return out;
}

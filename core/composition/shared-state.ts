// The files every independently built component layer rewrites whole — dpkg's and apt's databases, debconf, the
// account files, alternatives, the linker cache — and how the merge layer reconciles each. A path listed here is not
// a conflict when two layers write it differently; any other path is. Pure.

export type SharedState =
  /** RFC 822 paragraphs keyed by a field (dpkg status, debconf's databases). */
  | { merge: 'paragraphs'; key: 'package' | 'name' }
  /** apt's extended_states: auto/manual marks, read beside each layer's dpkg status (see state-merge.ts). */
  | { merge: 'apt-marks' }
  /** Lines keyed by their first `:`-separated field (passwd, group, shadow…), or whole lines (`line`). */
  | { merge: 'lines'; key: 'first-field' | 'line' | 'second-field' }
  /** dpkg's diversions: triples of lines, keyed by the diverted path. */
  | { merge: 'diversions' }
  /** One alternatives group (/var/lib/dpkg/alternatives/<name>). */
  | { merge: 'alternatives' }
  /** /etc/alternatives/<name>: symlinks that follow from the merged alternatives groups. */
  | { merge: 'derived' }
  /** Made by running a tool on the composed files (ldconfig): taken from the verification container. */
  | { merge: 'regenerated' }
  /** Logs, backups, locks and caches that nothing reads for correctness: the last layer's copy stays. */
  | { merge: 'ignored' };

const rules: [RegExp, SharedState][] = [
  [/^var\/lib\/dpkg\/status$/, { merge: 'paragraphs', key: 'package' }],
  [/^var\/lib\/apt\/extended_states$/, { merge: 'apt-marks' }],
  [/^var\/cache\/debconf\/(config|templates|passwords)\.dat$/, { merge: 'paragraphs', key: 'name' }],
  [/^var\/lib\/dpkg\/diversions$/, { merge: 'diversions' }],
  [/^var\/lib\/dpkg\/alternatives\/[^/]+$/, { merge: 'alternatives' }],
  [/^etc\/alternatives\/[^/]+$/, { merge: 'derived' }],
  [/^etc\/(passwd|group|shadow|gshadow|subuid|subgid)$/, { merge: 'lines', key: 'first-field' }],
  [/^etc\/shells$/, { merge: 'lines', key: 'line' }],
  [/^var\/lib\/dpkg\/triggers\/(?!Lock$)[^/]+$/, { merge: 'lines', key: 'line' }],
  [/^var\/lib\/ucf\/registry$/, { merge: 'lines', key: 'line' }],
  [/^var\/lib\/ucf\/hashfile$/, { merge: 'lines', key: 'second-field' }],
  [/^etc\/ld\.so\.cache$/, { merge: 'regenerated' }],
  [/^var\/cache\/ldconfig\/aux-cache$/, { merge: 'regenerated' }],
  [/^var\/log(\/|$)/, { merge: 'ignored' }],
  [/^var\/lib\/dpkg\/[^/]+-old$/, { merge: 'ignored' }],
  [/^var\/lib\/dpkg\/(lock|lock-frontend|triggers\/Lock)$/, { merge: 'ignored' }],
  [/^var\/lib\/ucf\/[^/]+\.\d+$/, { merge: 'ignored' }],
  [/^var\/cache\/debconf\/[^/]+-old$/, { merge: 'ignored' }],
  [/^var\/cache\/apt(\/|$)/, { merge: 'ignored' }],
  [/^var\/lib\/apt\/lists(\/|$)/, { merge: 'ignored' }],
  [/^usr\/share\/info\/dir(\.old)?$/, { merge: 'ignored' }],
  // Directories every install touches (their mtimes differ); their content is judged path by path.
  [/^(tmp|root|var\/tmp)$/, { merge: 'ignored' }],
];

export function sharedState(path: string): SharedState | undefined {
  for (const [re, kind] of rules) if (re.test(path)) return kind;
  return undefined;
}

/** Shared files whose content the merge layer needs (everything it merges, as opposed to ignores or regenerates). */
export const isMergedState = (path: string): boolean => {
  const s = sharedState(path);
  return s !== undefined && s.merge !== 'ignored' && s.merge !== 'regenerated' && s.merge !== 'derived';
};

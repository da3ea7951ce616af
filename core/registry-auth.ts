// How a registry wants to be authenticated, as the Docker registry token specification describes it and docker,
// crane, oras and skopeo implement it: parse the `WWW-Authenticate` challenge, ask the realm for a token covering the
// scopes a request needs, keep it until it expires. Pure parts (parsing, scopes, expiry) are exported for unit tests.

/** What a request needs to be allowed to do, per repository (the registry token spec's `scope`). */
export interface RegistryScope {
  /** `repository:<name>` access, or the registry's catalog (`registry:catalog:*`). */
  repository: string | { catalog: true };
  actions: ('pull' | 'push' | 'delete' | '*')[];
}

export interface Challenge {
  /** Lower case: `basic`, `bearer`, … */
  scheme: string;
  /** Lower-case parameter names: `realm`, `service`, `scope`, `error`. */
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const SPACE = /[ \t]*/y;
const PARAM = /([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))/y;

function matchAt(re: RegExp, s: string, at: number): RegExpExecArray | null {
  re.lastIndex = at;
  return re.exec(s);
}

/**
 * Parses a WWW-Authenticate header: one or more challenges, `Scheme k=v, k="quoted, with commas"` (RFC 9110 §11.6.1).
 * A registry's token challenge carries its scopes in a quoted value (`scope="repository:a:pull,push"`), so a plain
 * split on commas would cut it apart.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const skip = () => {
    while (i < header.length && /[\s,]/.test(header[i]!)) i++;
  };
  for (skip(); i < header.length; skip()) {
    const scheme = matchAt(TOKEN, header, i);
    if (!scheme) break; // not a challenge: stop rather than guess
    i += scheme[0].length;
    const challenge: Challenge = { scheme: scheme[0].toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      i += matchAt(SPACE, header, i)![0].length;
      const p = matchAt(PARAM, header, i);
      if (!p) break; // the next scheme (or a token68, which registries do not use)
      i += p[0].length;
      challenge.params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
      i += matchAt(SPACE, header, i)![0].length;
      if (header[i] !== ',') break;
      i++;
    }
  }
  return out;
}

/** The scope string of the token spec: `repository:kiln/x:pull,push` or `registry:catalog:*`. */
export function scopeString(scope: RegistryScope): string {
  const resource = typeof scope.repository === 'string' ? `repository:${scope.repository}` : 'registry:catalog';
  return `${resource}:${[...new Set(scope.actions)].sort().join(',')}`;
}

/** Parses a scope string a challenge names (`error="insufficient_scope"` tells which one was missing). */
export function parseScope(text: string): RegistryScope | undefined {
  const m = /^(repository|registry):(.+):([a-z*,]+)$/.exec(text);
  if (!m) return undefined;
  const actions = m[3]!.split(',').filter((a): a is RegistryScope['actions'][number] => ['pull', 'push', 'delete', '*'].includes(a));
  if (m[1] === 'registry') return m[2] === 'catalog' ? { repository: { catalog: true }, actions } : undefined;
  return { repository: m[2]!, actions };
}

/**
 * One scope per resource with the union of its actions, in a stable order: a cross-repository mount asks for pull on
 * the source and pull+push on the target, and one token covers both.
 */
export function mergeScopes(scopes: readonly RegistryScope[]): RegistryScope[] {
  const byResource = new Map<string, RegistryScope>();
  for (const s of scopes) {
    const key = typeof s.repository === 'string' ? `repository:${s.repository}` : 'registry:catalog';
    const seen = byResource.get(key);
    byResource.set(key, { repository: s.repository, actions: [...new Set([...(seen?.actions ?? []), ...s.actions])].sort() });
  }
  return [...byResource.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
}

export interface TokenAnswer {
  token?: string;
  access_token?: string;
  /** Seconds; the spec's default (and minimum) is 60. */
  expires_in?: number;
  issued_at?: string;
}

export interface IssuedToken {
  token: string;
  /** Epoch ms after which kiln asks for a new one (a little before the token really expires). */
  refreshAt: number;
}

/** Reads a token service's answer; undefined when it holds no token. */
export function issuedToken(answer: TokenAnswer, now: number): IssuedToken | undefined {
  const token = answer.token || answer.access_token;
  if (!token) return undefined;
  // The spec: "if the token server does not return expires_in, clients should assume 60 seconds", and no less.
  const lifetime = Math.max(60, Number.isFinite(answer.expires_in) ? Number(answer.expires_in) : 60) * 1000;
  const issued = answer.issued_at ? Date.parse(answer.issued_at) : NaN;
  // A clock far off ours would make issued_at meaningless: trust it only when it is near our now.
  const start = Number.isFinite(issued) && Math.abs(issued - now) < 5 * 60_000 ? issued : now;
  // Refresh early enough that a token never expires between our check and the registry's.
  return { token, refreshAt: start + lifetime - Math.min(30_000, lifetime / 5) };
}

/** The token request URL for a Bearer challenge: GET realm?service=…&scope=…&scope=… (account names the user). */
export function tokenUrl(challenge: Challenge, scopes: readonly RegistryScope[], username?: string): string {
  const url = new URL(challenge.params.realm!);
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
  for (const s of mergeScopes(scopes)) url.searchParams.append('scope', scopeString(s));
  if (username) url.searchParams.set('account', username);
  return url.toString();
}

export const basicAuthorization = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

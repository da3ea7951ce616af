// The one way kiln talks to its registry's /v2 API: HTTPS (with the configured private CA beside the system's) unless
// the host is configured for plain HTTP, and every request authorized the way the registry asks — none, Basic, or the
// Bearer token flow with a token per set of scopes, cached until it expires and fetched again on a 401.
import { rootCertificates } from 'node:tls';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch as undiciFetch, request as undiciRequest } from 'undici';
import { basicAuthorization, mergeScopes, parseChallenges, parseScope, scopeString, issuedToken, tokenUrl, type Challenge, type IssuedToken, type RegistryScope, type TokenAnswer } from './registry-auth.ts';
import { UnavailableError } from './errors.ts';

/**
 * One authorized request to the registry's /v2 API: every call kiln makes itself (reads, deletes, and the blob and
 * manifest writes of composition) goes through it, so authentication and TLS live in one place.
 */
export interface RegistryTransport {
  host: string;
  /**
   * `path` starts after /v2 (e.g. `/kiln/x/manifests/1`) or is an absolute URL the registry handed out (Location).
   * A body that is a stream cannot be sent twice: the request is authorized before it is sent (so a 401 on it means
   * the credentials or the scopes are wrong, not that a token had to be fetched). Credentials go only to the
   * registry's own origin.
   */
  request(path: string, init?: RequestInit & { scopes?: RegistryScope[] }): Promise<Response>;
  /**
   * A request whose body is a stream of any size (a blob upload), sent with backpressure: the body is read only as
   * fast as the socket drains (fetch reads a streamed body ahead without limit, and a 5 GB layer would sit in
   * memory). Authorized before it is sent, like every request with a stream. Answers status, headers and the text.
   */
  stream(
    path: string,
    init: { method: string; headers?: Record<string, string>; body: AsyncIterable<Buffer>; scopes?: RegistryScope[]; signal?: AbortSignal },
  ): Promise<{ status: number; headers: Headers; text: string }>;
}

export interface TransportOptions {
  host: string;
  /**
   * The hosts (host[:port]) spoken to over plain HTTP (REGISTRY_PLAIN_HTTP_HOSTS): the registry, when it is listed,
   * and a token service on a listed host. Every other host is HTTPS.
   */
  plainHttpHosts: readonly string[];
  /** PEM bundle trusted beside the system's CAs (REGISTRY_CA_FILE), for the registry and its token service. */
  ca?: string;
  username?: string;
  password?: string;
}

/** The registry could not be reached, or refused kiln: the message names the registry and the cause. */
export class RegistryError extends UnavailableError {}

const tlsCauses = /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)|ERR_TLS_CERT_ALTNAME_INVALID/;

/** Why a connection failed, in words that say what to change. */
export function networkCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause ?? (err as { code?: string; message?: string });
  const code = cause?.code ?? '';
  const text = cause?.message ?? String(err);
  if (tlsCauses.test(code)) return `its TLS certificate is not trusted (${code}: ${text}); set REGISTRY_CA_FILE to the PEM of the CA that signed it`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|EPROTO/i.test(`${code} ${text}`)) {
    return `it does not answer TLS (${code || text}); if it serves plain HTTP, list it in REGISTRY_PLAIN_HTTP_HOSTS`;
  }
  if (code === 'ECONNREFUSED') return 'nothing listens there (connection refused)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `its name does not resolve (${code})`;
  return `${code ? `${code}: ` : ''}${text}`;
}

const isReplayable = (body: unknown) =>
  body == null || typeof body === 'string' || body instanceof Uint8Array || body instanceof ArrayBuffer || body instanceof URLSearchParams || body instanceof Blob;

export function createRegistryTransport(opts: TransportOptions): RegistryTransport {
  const origin = `${opts.plainHttpHosts.includes(opts.host) ? 'http' : 'https'}://${opts.host}`;
  const base = `${origin}/v2`;
  // Trusting a private CA must not stop trusting the public ones (a token service may sit elsewhere).
  const dispatcher = opts.ca ? new Agent({ connect: { ca: [...rootCertificates, opts.ca] } }) : undefined;
  const credentials = opts.username !== undefined ? { username: opts.username, password: opts.password ?? '' } : undefined;
  const who = credentials ? `the credentials of "${credentials.username}"` : 'no credentials (REGISTRY_USERNAME is not set)';

  const send = async (url: string, init: RequestInit, headers: Record<string, string>): Promise<Response> => {
    try {
      const res = await undiciFetch(url, {
        ...(init as object),
        headers: { ...(init.headers as Record<string, string> | undefined), ...headers },
        ...(dispatcher ? { dispatcher } : {}),
      });
      return res as unknown as Response;
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new RegistryError(`registry ${opts.host} could not be reached at ${new URL(url).origin}: ${networkCause(err)}`, { cause: err });
    }
  };

  // What the registry asked for last (learned from /v2/ once, then from every 401), and the tokens it handed out.
  let challenge: Challenge | 'none' | undefined;
  let learning: Promise<void> | undefined;
  // Per realm and set of scopes: the token, or the request for it (concurrent requests wait for one answer).
  const tokens = new Map<string, { token: Promise<IssuedToken>; refreshAt: number }>();

  const learn = (res: Response) => {
    const offered = parseChallenges(res.headers.get('www-authenticate') ?? '');
    challenge = offered.find((c) => c.scheme === 'bearer' && c.params.realm) ?? offered.find((c) => c.scheme === 'basic') ?? challenge;
  };
  const ensureChallenge = async () => {
    if (challenge) return;
    learning ??= (async () => {
      const res = await send(`${base}/`, { method: 'GET' }, {});
      await res.body?.cancel();
      if (res.status === 401) learn(res);
      else challenge = 'none';
    })().finally(() => {
      learning = undefined;
    });
    await learning;
  };

  const fetchToken = async (c: Challenge, scopes: RegistryScope[]): Promise<IssuedToken> => {
    const url = tokenUrl(c, scopes, credentials?.username);
    const realm = new URL(url);
    if (realm.protocol !== 'https:' && credentials && !opts.plainHttpHosts.includes(realm.host)) {
      // Credentials never travel in clear to a host nobody configured for it.
      throw new RegistryError(
        `registry ${opts.host}: its token service ${realm.origin} is plain HTTP, and kiln sends credentials in clear only to hosts listed in REGISTRY_PLAIN_HTTP_HOSTS`,
      );
    }
    let res: Response;
    try {
      res = await send(url, { method: 'GET' }, credentials ? { authorization: basicAuthorization(credentials.username, credentials.password) } : {});
    } catch (err) {
      throw new RegistryError(`registry ${opts.host}: its token service ${realm.origin}${realm.pathname} could not be reached: ${networkCause((err as Error).cause ?? err)}`, { cause: err });
    }
    const text = await res.text();
    if (res.status === 401 || res.status === 403) {
      throw new RegistryError(`registry ${opts.host}: its token service ${realm.origin}${realm.pathname} refused ${who} (${res.status}${text ? `: ${text.slice(0, 200).trim()}` : ''})`);
    }
    let answer: TokenAnswer = {};
    try {
      answer = JSON.parse(text) as TokenAnswer;
    } catch {
      /* reported below */
    }
    const issued = res.ok ? issuedToken(answer, Date.now()) : undefined;
    if (!issued) throw new RegistryError(`registry ${opts.host}: its token service ${realm.origin}${realm.pathname} answered ${res.status} without a token`);
    return issued;
  };

  const authorization = async (scopes: RegistryScope[], fresh: boolean): Promise<Record<string, string>> => {
    await ensureChallenge();
    const c = challenge;
    if (!c || c === 'none') return {};
    if (c.scheme === 'basic') return credentials ? { authorization: basicAuthorization(credentials.username, credentials.password) } : {};
    const key = `${c.params.realm} ${mergeScopes(scopes).map(scopeString).join(' ')}`;
    const now = Date.now();
    let entry = tokens.get(key);
    if (fresh || !entry || entry.refreshAt <= now) {
      for (const [k, e] of tokens) if (e.refreshAt <= now) tokens.delete(k); // expired ones go, so the map stays small
      const token = fetchToken(c, scopes);
      const created = { token, refreshAt: Infinity };
      tokens.set(key, (entry = created));
      token.then(
        (t) => void (created.refreshAt = t.refreshAt),
        () => void (tokens.get(key) === created && tokens.delete(key)),
      );
    }
    return { authorization: `Bearer ${(await entry.token).token}` };
  };

  const urlOf = (path: string) => (/^https?:\/\//.test(path) ? path : `${base}${path}`);
  return {
    host: opts.host,
    async stream(path, init) {
      const url = urlOf(path);
      const auth = new URL(url).origin === origin ? await authorization(init.scopes ?? [], false) : {};
      try {
        const res = await undiciRequest(url, {
          method: init.method as 'PATCH',
          headers: { ...init.headers, ...auth },
          body: Readable.from(init.body),
          // A 5 GB layer takes minutes to send on a loaded host: the job's own timeout (its signal) bounds it instead.
          headersTimeout: 0,
          bodyTimeout: 0,
          ...(init.signal ? { signal: init.signal } : {}),
          ...(dispatcher ? { dispatcher } : {}),
        });
        const text = (await res.body.text()).slice(0, 64 * 1024);
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        return { status: res.statusCode, headers, text };
      } catch (err) {
        if ((err as Error).name === 'AbortError' || init.signal?.aborted) throw err;
        throw new RegistryError(`registry ${opts.host} could not be reached at ${new URL(url).origin}: ${networkCause(err)}`, { cause: err });
      }
    },
    async request(path, init = {}) {
      const { scopes = [], ...rest } = init;
      const url = urlOf(path);
      if (new URL(url).origin !== origin) return send(url, rest, {});
      const first = await authorization(scopes, false);
      let res = await send(url, rest, first);
      // A read answered 5xx is asked again, twice: distribution on a filesystem answers 500 ("invalid checksum digest
      // format") to a tag read while another client moves that tag (a builder publishing `current` as another composes).
      const method = (rest.method ?? 'GET').toUpperCase();
      for (let pause = 200; res.status >= 500 && (method === 'GET' || method === 'HEAD') && pause <= 800 && !rest.signal?.aborted; pause *= 4) {
        await res.body?.cancel();
        await sleep(pause);
        res = await send(url, rest, first);
      }
      // A stream was consumed by the first attempt; its 401 goes back to the caller as is.
      if (res.status !== 401 || !isReplayable(rest.body)) return res;
      learn(res);
      const c = challenge;
      if (!c || c === 'none' || c.scheme !== 'bearer') return res; // Basic: the same credentials would be refused again
      // The token expired early, or lacked a scope the registry names (insufficient_scope): ask again, once.
      const wanted = c.params.scope ? c.params.scope.split(' ').map(parseScope).filter((s): s is RegistryScope => !!s) : [];
      const retry = await authorization([...scopes, ...wanted], true);
      await res.body?.cancel();
      return send(url, rest, retry);
    },
  };
}

/** Why the registry refused a request, for error messages: its own error text, and what to check. */
export async function refusal(res: Response, opts: { username?: string }): Promise<{ detail: string; hint: string }> {
  const body = (await res.text().catch(() => '')).trim();
  let detail = body.slice(0, 200);
  try {
    const parsed = JSON.parse(body) as { errors?: { code?: string; message?: string }[] };
    if (parsed.errors) detail = parsed.errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
  } catch {
    /* not JSON (a proxy's page, Go's plain-text 400): kept as text */
  }
  const account = opts.username !== undefined ? `"${opts.username}"` : undefined;
  const hint =
    res.status === 401
      ? account
        ? `it refused the credentials of ${account} (REGISTRY_USERNAME / REGISTRY_PASSWORD)`
        : 'it wants credentials (set REGISTRY_USERNAME and REGISTRY_PASSWORD)'
      : res.status === 403
        ? `the account${account ? ` ${account}` : ''} may not do this`
        : res.status === 400 && /HTTP request to an HTTPS server/i.test(detail)
          ? 'it serves HTTPS: remove it from REGISTRY_PLAIN_HTTP_HOSTS'
          : '';
  return { detail, hint };
}

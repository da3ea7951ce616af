// A small token service that follows the Docker registry token specification, for a real docker-registry configured
// with `auth.token` (no token server is installable here). It checks Basic credentials, grants per repository and
// action what the account may do, and answers a JWT signed RS256 with its certificate in `x5c` — the registry trusts
// it through `rootcertbundle`. Everything it is asked is recorded, so tests can see what kiln (or the engine) asked.
import { createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface IssuerAccount {
  password: string;
  /** The actions this account may have on a repository (empty: none); `registry:catalog:*` is granted to `catalog`. */
  grants(repository: string): string[];
  catalog?: boolean;
}

export interface TokenRequestSeen {
  account?: string;
  scopes: string[];
  status: number;
}

export interface TokenIssuer {
  /** http://127.0.0.1:PORT/token */
  realm: string;
  host: string;
  service: string;
  issuer: string;
  seen: TokenRequestSeen[];
  /** A token this issuer would sign for `access`, or one signed with `key` instead (what the registry must refuse). */
  token(access: { type: string; name: string; actions: string[] }[], opts?: { subject?: string; keyPem?: string; certPem?: string; expiresIn?: number }): string;
  close(): Promise<void>;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** Base64 DER of the first certificate in a PEM file (the x5c header's form). */
const derOf = (certPem: string) => new X509Certificate(certPem).raw.toString('base64');

export async function startTokenIssuer(opts: {
  keyFile: string;
  certFile: string;
  service: string;
  accounts: Record<string, IssuerAccount>;
  expiresIn?: number;
}): Promise<TokenIssuer> {
  const [keyPem, certPem] = await Promise.all([readFile(opts.keyFile, 'utf8'), readFile(opts.certFile, 'utf8')]);
  const issuerName = 'kiln-test-issuer';
  const seen: TokenRequestSeen[] = [];

  const token: TokenIssuer['token'] = (access, t = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [derOf(t.certPem ?? certPem)] };
    const claims = {
      iss: issuerName,
      sub: t.subject ?? '',
      aud: opts.service,
      exp: now + (t.expiresIn ?? opts.expiresIn ?? 300),
      nbf: now - 1,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), createPrivateKey(t.keyPem ?? keyPem));
    return `${signingInput}.${b64url(signature)}`;
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://issuer');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const answer = (status: number, body: unknown) => {
      seen.push({ ...(account ? { account } : {}), scopes, status });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    let account: string | undefined;
    if (url.pathname !== '/token') return answer(404, { details: 'not found' });
    if (url.searchParams.get('service') !== opts.service) return answer(400, { details: `unknown service ${url.searchParams.get('service')}` });
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      account = decoded.slice(0, i);
      if (opts.accounts[account]?.password !== decoded.slice(i + 1)) return answer(401, { details: `wrong username or password for "${account}"` });
    }
    // Anonymous callers get a token too, with no access (what a registry's public pull would build on).
    const who = account ? opts.accounts[account] : undefined;
    const access = scopes.flatMap((scope) => {
      const m = /^(repository|registry):(.+):([^:]*)$/.exec(scope);
      if (!m || !who) return [];
      const asked = m[3]!.split(',');
      const allowed = m[1] === 'registry' ? (m[2] === 'catalog' && who.catalog ? ['*'] : []) : who.grants(m[2]!);
      const actions = asked.filter((a) => allowed.includes(a) || allowed.includes('*'));
      return actions.length ? [{ type: m[1]!, name: m[2]!, actions }] : [];
    });
    const issued = token(access, account ? { subject: account } : {});
    return answer(200, { token: issued, access_token: issued, expires_in: opts.expiresIn ?? 300, issued_at: new Date().toISOString() });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    realm: `http://${host}/token`,
    host,
    service: opts.service,
    issuer: issuerName,
    seen,
    token,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

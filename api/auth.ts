// Authentication for the api: every route under /v1/ needs `Authorization: Bearer <token>` unless it opts out.
//
// In a route handler, the caller is `req.auth`:
//   req.auth.project  the project this request acts in — scope every read and write to it. For a project token it is
//                     the token's project; for an admin token, the `X-Kiln-Project` header (default: `default`).
//   req.auth.admin    true for admin tokens (KILN_ADMIN_TOKEN or one created as admin).
//   req.auth.tokenId  the token's id (`config` for KILN_ADMIN_TOKEN), e.g. to key a rate limit.
// A route chooses its guard with `config: { auth: 'project' | 'admin' | 'public' }`: 'project' is the default under
// /v1/ (any valid token), 'admin' also refuses project tokens with 403, 'public' skips the check (the route proves
// the caller some other way, like a webhook's signature). Routes outside /v1/ (/healthz, /metrics, /docs) are public.
// Another project's resources are answered 404, as if they did not exist: a token learns nothing about other projects.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TokenService } from '../core/auth/token-service.ts';
import { bearerToken } from '../core/auth/api-token.ts';
import type { ProjectStore } from '../core/db/project-store.ts';
import { ForbiddenError, NotFoundError, UnauthorizedError } from '../core/errors.ts';
import { atField } from './error-handler.ts';

export interface Caller {
  /** The project the request acts in. */
  project: string;
  admin: boolean;
  tokenId: string;
}

export type AuthMode = 'project' | 'admin' | 'public';

/** The project an admin token acts in when the request names none. */
export const DEFAULT_PROJECT = 'default';
export const PROJECT_HEADER = 'x-kiln-project';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; reading it on a public route throws. */
    readonly auth: Caller;
  }
  interface FastifyContextConfig {
    auth?: AuthMode;
  }
}

const callerKey = Symbol('kiln.caller');
type WithCaller = FastifyRequest & { [callerKey]?: Caller };

export function authModeOf(req: FastifyRequest): AuthMode {
  const configured = req.routeOptions.config?.auth;
  if (configured) return configured;
  return (req.routeOptions.url ?? req.url).startsWith('/v1/') ? 'project' : 'public';
}

export function installAuth(app: FastifyInstance, deps: { tokens: Pick<TokenService, 'authenticate'>; projects: Pick<ProjectStore, 'getProject'> }): void {
  app.decorateRequest('auth', {
    getter(this: WithCaller) {
      const caller = this[callerKey];
      if (!caller) throw new Error(`req.auth read on ${this.method} ${this.url}, a route without authentication`);
      return caller;
    },
  });

  // onRequest: before the body is read, so an unauthenticated upload is refused without streaming it anywhere.
  app.addHook('onRequest', async (req) => {
    const mode = authModeOf(req);
    if (mode === 'public') return;
    const token = bearerToken(req.headers.authorization);
    if (!token) throw atField(new UnauthorizedError('missing token: send `Authorization: Bearer <token>`'), 'authorization');
    const identity = await deps.tokens.authenticate(token).catch((err: unknown) => {
      throw err instanceof UnauthorizedError ? atField(err, 'authorization') : err;
    });
    if (mode === 'admin' && !identity.admin) throw atField(new ForbiddenError('this route needs an admin token'), 'authorization');

    const named = req.headers[PROJECT_HEADER];
    const requested = typeof named === 'string' && named !== '' ? named : undefined;
    let project: string;
    if (identity.project !== null) {
      if (requested !== undefined && requested !== identity.project) {
        throw atField(new ForbiddenError(`this token belongs to project "${identity.project}" and cannot act in "${requested}"`), PROJECT_HEADER);
      }
      project = identity.project;
    } else {
      project = requested ?? DEFAULT_PROJECT;
      if (requested !== undefined && !(await deps.projects.getProject(project))) throw atField(new NotFoundError(`no project "${project}"`), PROJECT_HEADER);
    }
    (req as WithCaller)[callerKey] = { project, admin: identity.admin, tokenId: identity.tokenId };
  });
}

// Issues, checks and revokes API tokens. Shared by the api and the `kiln admin create-token` command.
import { randomUUID } from 'node:crypto';
import type { ProjectStore } from '../db/project-store.ts';
import type { ApiTokenRow } from '../db/schema/projects.ts';
import { NotFoundError, UnauthorizedError, ValidationError } from '../errors.ts';
import { checkPlainText } from '../spec-grammar.ts';
import { generateToken, hashToken, sameToken } from './api-token.ts';

/** Who is calling, once a token has been checked. */
export interface TokenIdentity {
  /** The token's id; `config` for KILN_ADMIN_TOKEN. */
  tokenId: string;
  admin: boolean;
  /** The token's project; null for admin tokens. */
  project: string | null;
}

export interface TokenServiceDeps {
  store: ProjectStore;
  /** KILN_ADMIN_TOKEN, if set: an admin token that lives in configuration, not in the database. */
  configAdminToken?: string | undefined;
}

export function createTokenService(deps: TokenServiceDeps) {
  return {
    /** Creates a token; the clear token is in the result and nowhere else, so it is shown once. */
    async create(input: { project: string | null; name: string }): Promise<{ row: ApiTokenRow; token: string }> {
      const nameProblem = checkPlainText(input.name, 100) ?? (input.name.trim() === '' ? 'must not be empty' : undefined);
      if (nameProblem) throw new ValidationError([{ field: 'name', message: nameProblem }]);
      if (input.project !== null && !(await deps.store.getProject(input.project))) throw new NotFoundError(`no project "${input.project}"`);
      const token = generateToken();
      const row = await deps.store.insertToken({ id: randomUUID(), project: input.project, name: input.name, tokenHash: hashToken(token) });
      return { row, token };
    },

    /** The identity behind a bearer token; UnauthorizedError for an unknown or revoked one. */
    async authenticate(token: string): Promise<TokenIdentity> {
      if (deps.configAdminToken && sameToken(token, deps.configAdminToken)) return { tokenId: 'config', admin: true, project: null };
      const row = await deps.store.tokenByHash(hashToken(token));
      if (!row) throw new UnauthorizedError('invalid token');
      if (row.revokedAt) throw new UnauthorizedError('this token has been revoked');
      return { tokenId: row.id, admin: row.project === null, project: row.project };
    },

    async revoke(id: string): Promise<ApiTokenRow> {
      const row = await deps.store.revokeToken(id);
      if (!row) throw new NotFoundError(`no token "${id}"`);
      return row;
    },
  };
}

export type TokenService = ReturnType<typeof createTokenService>;

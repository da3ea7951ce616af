// The one place where errors become HTTP: application/problem+json, a stable type, the request id, no internals on 5xx.
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import {
  ConflictError,
  ForbiddenError,
  KilnError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
  type Problem,
} from '../core/errors.ts';

const statusOf = (err: KilnError): number => {
  if (err instanceof ValidationError) return 400;
  if (err instanceof UnauthorizedError) return 401;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  if (err instanceof PayloadTooLargeError) return 413;
  if (err instanceof RateLimitedError) return 429;
  if (err instanceof UnavailableError) return 503;
  return 500;
};

const titles: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests',
  500: 'Internal Server Error', 503: 'Service Unavailable',
};

export const problemType = (kind: string) => `urn:kiln:problem:${kind}`;

/** Schema failures from the zod type provider, as field + message pairs. */
function schemaProblems(err: FastifyError & { validation?: unknown[]; validationContext?: string }): Problem[] {
  return (err.validation ?? []).map((v) => {
    const issue = v as { instancePath?: string; message?: string };
    const at = (issue.instancePath ?? '').replace(/^\//, '').replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.');
    return { field: at || (err.validationContext ?? 'body'), message: issue.message ?? 'is invalid' };
  });
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .type('application/problem+json')
      .send({ type: problemType('not-found'), title: 'Not Found', status: 404, detail: `no route ${req.method} ${req.url.split('?')[0]}`, requestId: req.id });
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    let status: number;
    let kind: string;
    let detail: string;
    let problems: Problem[] | undefined;
    if (hasZodFastifySchemaValidationErrors(err)) {
      status = 400;
      kind = 'validation';
      problems = schemaProblems(err);
      detail = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
    } else if (err instanceof KilnError) {
      status = statusOf(err);
      kind = err.kind;
      detail = err.message;
      if (err instanceof ValidationError) problems = err.problems;
      if (err instanceof UnauthorizedError) void reply.header('www-authenticate', 'Bearer realm="kiln"');
      if (err instanceof RateLimitedError) void reply.header('retry-after', String(err.retryAfterSeconds));
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      // fastify's own client errors (bad JSON, body too large, unsupported media type) carry a safe message.
      status = err.statusCode;
      kind = err.code ? err.code.toLowerCase().replace(/^fst_err_/, '').replace(/_/g, '-') : 'bad-request';
      detail = err.message;
    } else {
      status = 500;
      kind = 'internal';
      detail = `internal error; quote request id ${req.id} when reporting it`;
    }
    // The client may still be sending a body we refused: close the connection rather than read the rest.
    if (status === 413) void reply.header('connection', 'close');
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ status, kind, detail }, 'request refused');
    void reply
      .code(status)
      .type('application/problem+json')
      .send({ type: problemType(kind), title: titles[status] ?? 'Error', status, detail, requestId: req.id, ...(problems ? { problems } : {}) });
  });
}

// The one place where errors become HTTP: application/problem+json, a stable type, the request id, no internals on 5xx.
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
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
import { lingerAfterAnswer } from './http-timeouts.ts';

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

/** The one writer of a problem+json answer: every refusal and failure the api sends goes through it. */
export function sendProblem(
  reply: FastifyReply,
  p: { status: number; kind: string; detail: string; requestId: string; problems?: Problem[] | undefined },
): FastifyReply {
  return reply
    .code(p.status)
    .type('application/problem+json')
    .send({
      type: problemType(p.kind),
      title: titles[p.status] ?? 'Error',
      status: p.status,
      detail: p.detail,
      requestId: p.requestId,
      ...(p.problems ? { problems: p.problems } : {}),
    });
}

const fieldKey = Symbol('kiln.field');

/** Marks an error with the request field at fault (a header, a parameter), so its problem names it. */
export function atField<E extends Error>(err: E, field: string): E {
  return Object.assign(err, { [fieldKey]: field });
}

/** fastify's own client errors, by code: which part of the request is at fault. */
const fastifyFields: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'content-type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'content-length',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'body',
  FST_ERR_CTP_INVALID_CONTENT_TYPE: 'content-type',
};

/**
 * The field a refusal without a list of problems is about: marked by whoever threw it, else what the status and
 * route imply (a 413 is about the body; a 404 on /…/:id is about the id).
 */
function faultyField(err: FastifyError, status: number, params: unknown): string | undefined {
  const marked = (err as { [fieldKey]?: string })[fieldKey];
  if (marked) return marked;
  if (err.code && fastifyFields[err.code]) return fastifyFields[err.code];
  if (status === 413) return 'body';
  if (status === 404 && params && typeof params === 'object' && 'id' in params) return 'id';
  return undefined;
}

/** Postgres refused a value's text: character_not_in_repertoire (NUL, bad UTF-8) or untranslatable_character. */
function isUnstorableText(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === '22021' || code === '22P05') return true;
  }
  return false;
}

/** Schema failures from the zod type provider, as field + message pairs. */
function schemaProblems(err: FastifyError & { validation?: unknown[]; validationContext?: string }): Problem[] {
  return (err.validation ?? []).flatMap((v) => {
    const issue = v as { instancePath?: string; message?: string; keyword?: string; params?: { keys?: unknown } };
    const at = (issue.instancePath ?? '').replace(/^\//, '').replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.');
    // An unknown key is the field at fault itself, not the object that holds it.
    const keys = issue.keyword === 'unrecognized_keys' && Array.isArray(issue.params?.keys) ? (issue.params.keys as unknown[]).map(String) : [];
    if (keys.length > 0) return keys.map((k) => ({ field: at ? `${at}.${k}` : k, message: 'is not a known field' }));
    return [{ field: at || (err.validationContext ?? 'body'), message: issue.message ?? 'is invalid' }];
  });
}

/**
 * Maps every error to problem+json (the input hygiene's refusals included). `lingerMs`: how long a connection whose
 * request body is still arriving is read (and dropped) after its refusal, so the client can read it.
 */
export function installErrorHandler(app: FastifyInstance, opts: { lingerMs: number }): void {
  app.setNotFoundHandler((req, reply) => {
    const detail = `no route ${req.method} ${req.url.split('?')[0]}`;
    void sendProblem(reply, { status: 404, kind: 'not-found', detail, requestId: req.id, problems: [{ field: 'url', message: detail }] });
  });

  // A client that hangs up before all of its request arrived gets one info line, at whatever stage the request was:
  // its auth check, its body being read, or in no error path at all (a hang-up during an async check may reach no
  // handler). Never an error: anyone could fill the error log by hanging up. A refusal already sent is logged as such.
  const refusedMidBody = new WeakSet<object>();
  app.addHook('onRequestAbort', async (req) => {
    if (!refusedMidBody.has(req.raw)) req.log.info('client went away before its request ended');
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    // The client went away mid-request (its socket is gone): whatever failed failed because of that, and the hook
    // above said so. Nobody is left to answer.
    if (!req.raw.complete && req.raw.socket?.destroyed) {
      req.log.debug({ reason: err.message }, 'what failed after the client went away');
      return reply.code(400).send();
    }
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
    } else if (isUnstorableText(err)) {
      // A safety net behind input hygiene: text that reached the database from a path the hygiene does not see
      // (a signed webhook payload) is still the request's fault, not the server's.
      status = 400;
      kind = 'validation';
      detail = 'the request holds text that cannot be stored (a NUL character or invalid Unicode)';
      problems = [{ field: 'body', message: detail }];
    } else {
      status = 500;
      kind = 'internal';
      detail = `internal error; quote request id ${req.id} when reporting it`;
    }
    if (status < 500 && !problems) {
      const field = faultyField(err, status, req.params);
      if (field) problems = [{ field, message: detail }];
    }
    // The client may still be sending a body we refused (too large, a refused archive): close the connection rather
    // than read the rest.
    if (status === 413 || !req.raw.complete) {
      refusedMidBody.add(req.raw);
      void reply.header('connection', 'close');
      lingerAfterAnswer(req, opts.lingerMs);
    }
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ status, kind, detail }, 'request refused');
    void sendProblem(reply, { status, kind, detail, requestId: req.id, problems });
  });
}

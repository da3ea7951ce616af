// Typed errors the services throw; api/error-handler.ts is the one place that maps them to HTTP.

/** One thing wrong with a request: the field at fault (a JSON pointer-ish path) and what is wrong. */
export interface Problem {
  field: string;
  message: string;
}

export class KilnError extends Error {
  /** A stable, machine-readable kind; becomes the problem+json `type`. */
  readonly kind: string = 'internal';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ValidationError extends KilnError {
  override readonly kind = 'validation';
  constructor(readonly problems: Problem[]) {
    super(problems.map((p) => `${p.field}: ${p.message}`).join('; '));
  }
}

export class NotFoundError extends KilnError {
  override readonly kind = 'not-found';
}

export class ConflictError extends KilnError {
  override readonly kind = 'conflict';
}

export class PayloadTooLargeError extends KilnError {
  override readonly kind = 'payload-too-large';
}

/** A dependency (engine, registry, S3, Redis) did not answer: worth retrying. */
export class UnavailableError extends KilnError {
  override readonly kind = 'unavailable';
}

/** No credentials, or credentials that do not (or no longer) open anything: 401. */
export class UnauthorizedError extends KilnError {
  override readonly kind = 'unauthorized';
}

/** The caller is known but its token may not do this (e.g. a project token on an admin route): 403. */
export class ForbiddenError extends KilnError {
  override readonly kind = 'forbidden';
}

/** Too many requests in the window; `retryAfterSeconds` becomes the Retry-After header. */
export class RateLimitedError extends KilnError {
  override readonly kind = 'rate-limited';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

// Why a build attempt failed, and whether trying again could help. The worker turns non-retryable ones into
// BullMQ's UnrecoverableError; the user sees which kind it was.
export class BuildFailure extends Error {
  constructor(
    message: string,
    /** True when the cause is outside the build (engine, registry, S3 unreachable): a retry may succeed. */
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'BuildFailure';
  }
}

/** A recipe or the user's step failed inside the engine: the same inputs fail the same way. */
export const stepFailed = (message: string) => new BuildFailure(message, false);

const transientCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENOTFOUND', 'UND_ERR_SOCKET']);

/** One error, without its causes: transient, permanent (a BuildFailure or a stop said so), or not known. */
function classifyOne(err: unknown): boolean | undefined {
  if (err instanceof BuildFailure) return err.retryable;
  const e = err as { code?: string; statusCode?: number; $metadata?: { httpStatusCode?: number }; name?: string } | null | undefined;
  if (!e || typeof e !== 'object') return undefined;
  if (e.name === 'AbortError') return false;
  if (e.code && transientCodes.has(e.code)) return true;
  const status = e.statusCode ?? e.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500) return true;
  if (e.name === 'TimeoutError' || e.name === 'InternalError' || e.name === 'ServiceUnavailable') return true;
  return undefined;
}

/**
 * Network-level failures and 5xx answers are transient; anything else is not known to be. The cause chain is read
 * outside in: the registry client wraps fetch's TypeError, which wraps the socket's ECONNRESET, so the code is two
 * causes down; the first error that says either way decides (a BuildFailure's own verdict outranks its cause's).
 */
export function isTransient(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const verdict = classifyOne(e);
    if (verdict !== undefined) return verdict;
  }
  return false;
}

/** Why kiln itself stopped a running build (the AbortSignal's reason): each ends the build its own way. */
export class BuildStopped extends Error {
  constructor(
    readonly kind: 'canceled' | 'timeout' | 'shutdown',
    message: string,
  ) {
    super(message);
    this.name = 'BuildStopped';
  }
}

/** The stop reason if `signal` was aborted by kiln, else undefined. */
export const stopReason = (signal: AbortSignal): BuildStopped | undefined =>
  signal.aborted && signal.reason instanceof BuildStopped ? signal.reason : undefined;

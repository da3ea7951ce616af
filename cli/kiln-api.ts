// The CLI's view of kiln's REST API: fetch with the token, and refusals turned into one readable error.
import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';
import type { CliConfig } from '../core/config.ts';

export interface BuildState {
  id: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
  imageRef: string;
  digest: string | null;
  error: string | null;
}

export const ended = (status: string) => status === 'succeeded' || status === 'failed' || status === 'canceled';

/** The command line itself is wrong: the usage text follows the message. */
export class UsageError extends Error {}

/** An answer other than 2xx, or no answer: the message says what kiln said (problem+json detail and problems). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export function createKilnApi(config: CliConfig) {
  const call = async (path: string, init: RequestInit = {}): Promise<Response> => {
    let res: Response;
    try {
      res = await fetch(`${config.KILN_URL}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${config.KILN_TOKEN}`, ...(init.headers as Record<string, string> | undefined) },
      });
    } catch (err) {
      throw new ApiError(`cannot reach kiln at ${config.KILN_URL}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    if (res.ok) return res;
    const text = await res.text();
    let message = `${res.status} ${res.statusText}`;
    try {
      const problem = JSON.parse(text) as { detail?: string; problems?: { field: string; message: string }[] };
      if (problem.problems?.length) message += `:\n${problem.problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`;
      else if (problem.detail) message += `: ${problem.detail}`;
    } catch {
      if (text) message += `: ${text.slice(0, 500)}`;
    }
    throw new ApiError(message, res.status);
  };
  const json = async <T>(path: string, init?: RequestInit) => (await (await call(path, init)).json()) as T;

  return {
    /** Streams the file from disk (its size known, so an oversized one is refused before it is sent). */
    async upload(file: string): Promise<{ id: string; sha256: string; size: number }> {
      const body = await openAsBlob(file);
      return json(`/v1/uploads?filename=${encodeURIComponent(basename(file))}`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body,
      });
    },
    createBuild(
      spec: unknown,
      idempotencyKey?: string,
    ): Promise<{ id: string; status: string; route?: string | null; queuePosition?: number | null; estimate?: { seconds: number; low: number; high: number } | null }> {
      return json('/v1/builds', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
        body: JSON.stringify(spec),
      });
    },
    /** With `waitSeconds`, kiln answers when the build ends or after that long (long-poll). */
    getBuild(id: string, waitSeconds = 0): Promise<BuildState & Record<string, unknown>> {
      return json(`/v1/builds/${encodeURIComponent(id)}${waitSeconds > 0 ? `?wait=${waitSeconds}` : ''}`);
    },
    cancel(id: string): Promise<BuildState & Record<string, unknown>> {
      return json(`/v1/builds/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
    },
    async log(id: string): Promise<string> {
      return (await call(`/v1/builds/${encodeURIComponent(id)}/logs`)).text();
    },
    /** The log as Server-Sent Events (followed live until the build ends), after `lastEventId` when resuming. */
    logStream(id: string, lastEventId?: string): Promise<Response> {
      return call(`/v1/builds/${encodeURIComponent(id)}/logs`, { headers: { accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) } });
    },
  };
}

export type KilnApi = ReturnType<typeof createKilnApi>;

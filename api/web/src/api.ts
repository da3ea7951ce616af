// The browser's side of kiln's REST API: the project token (kept in localStorage), JSON calls, problem answers.
import type { z } from 'zod';
import type { buildSchema, buildSummarySchema, problemSchema } from '../../api-schemas.ts';
import type { catalogView } from '../../component-routes.ts';
import type { templateView } from '../../template-routes.ts';
import type { imageView } from '../../image-routes.ts';
import type { DailyBuildStats } from '../../../core/db/template-store.ts';
import type { TemplateStats } from '../../../core/templates/template-stats.ts';

export type Catalog = ReturnType<typeof catalogView>;
export type CatalogComponent = Catalog['components'][number];
export type CatalogVersion = CatalogComponent['versions'][number];
/** queuePosition and priority arrive with the queue work; older servers leave them out. */
export type Build = Omit<z.infer<typeof buildSchema>, 'queuePosition'> & { queuePosition?: number | null };
export type BuildSummary = z.infer<typeof buildSummarySchema>;
export type Problem = z.infer<typeof problemSchema>;
export type Template = ReturnType<typeof templateView>;
export type Image = ReturnType<typeof imageView>;
export type { DailyBuildStats, TemplateStats };
/** POST /v1/builds/preview: which way a build of these components would go now, why, and how long it would take. */
export type { EstimatedPreview as BuildPreview } from '../../build-routes.ts';
export const endedStatuses = ['succeeded', 'failed', 'canceled'];

const TOKEN_KEY = 'kiln.token';

export const tokenStore = {
  get: (): string | null => localStorage.getItem(TOKEN_KEY),
  set: (token: string) => localStorage.setItem(TOKEN_KEY, token),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

/** A non-2xx answer, with the problem document when kiln sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
  ) {
    super(problem ? problem.detail || problem.title : `kiln answered HTTP ${status}`);
  }
}

/** Called when kiln says the token is no good (401): the shell asks for another. */
let onUnauthorized: (message: string) => void = () => {};
export function whenUnauthorized(fn: (message: string) => void): void {
  onUnauthorized = fn;
}

export function authHeader(): Record<string, string> {
  const token = tokenStore.get();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** fetch with the token; a 401 also tells the shell. Non-2xx answers are returned, not thrown. */
export async function rawFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(path, { ...init, headers: { ...authHeader(), ...(init.headers as Record<string, string> | undefined) } });
  if (res.status === 401) onUnauthorized((await problemOf(res.clone()))?.detail ?? 'kiln did not accept the token');
  return res;
}

export async function problemOf(res: Response): Promise<Problem | undefined> {
  try {
    const body = (await res.json()) as Problem;
    return typeof body === 'object' && body && 'status' in body ? body : undefined;
  } catch {
    return undefined;
  }
}

/** JSON in, JSON out; throws ApiError for any non-2xx answer. */
export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const res = await rawFetch(path, {
    method: init.method ?? 'GET',
    ...(init.signal ? { signal: init.signal } : {}),
    ...(init.body !== undefined ? { body: JSON.stringify(init.body), headers: { 'content-type': 'application/json' } } : {}),
  });
  if (!res.ok) throw new ApiError(res.status, await problemOf(res));
  return (await res.json()) as T;
}

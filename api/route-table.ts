// The routes an app serves, and the rule that each one is documented: an operationId and response schemas, so the
// OpenAPI document (generated from the schemas) lists every route completely.
import type { RouteOptions } from 'fastify';

export interface RouteEntry {
  method: string;
  url: string;
  operationId: string;
  /** Who may call it (api/auth.ts): absent means the default for its path. */
  auth?: 'project' | 'admin' | 'public';
}

/** The documented entries of a route being registered; throws for a visible route without operationId or responses. */
export function checkRouteDocumented(route: Pick<RouteOptions, 'method' | 'url' | 'schema' | 'config'>): RouteEntry[] {
  const schema = route.schema as { hide?: boolean; operationId?: string; response?: unknown } | undefined;
  // Hidden routes are the docs UI's own files; HEAD is fastify's automatic twin of every GET.
  const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
  if (schema?.hide || methods.length === 0) return [];
  if (!schema?.operationId || !schema.response) {
    throw new Error(`route ${methods.join(',')} ${route.url} needs schema.operationId and schema.response (every route is in the OpenAPI document)`);
  }
  const auth = (route.config as { auth?: RouteEntry['auth'] } | undefined)?.auth;
  return methods.map((method) => ({ method, url: route.url, operationId: schema.operationId!, ...(auth ? { auth } : {}) }));
}

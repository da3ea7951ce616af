// The web form at `/`: the files Vite built into api/web/dist, served as they are. Not API routes, so they are hidden
// from the OpenAPI document; without a build, `/` says how to make one instead of failing.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import fastifyStatic from '@fastify/static';
import { WEB_DIST_DIR } from '../core/repo-paths.ts';

export { WEB_DIST_DIR };

const notBuilt = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>kiln: web form not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5">
<h1>kiln's web form is not built</h1>
<p>The API works (see <a href="/docs">/docs</a>), but the form's files are missing from <code>api/web/dist</code>.
Build them with <code>npm run web:build</code> (<code>npm start</code> and <code>npm test</code> do it for you), then reload.</p>
</body></html>
`;

export const webRoutes: FastifyPluginAsync<{ distDir?: string }> = async (app, opts) => {
  const root = opts.distDir ?? WEB_DIST_DIR;
  if (!existsSync(path.join(root, 'index.html'))) {
    app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.code(503).type('text/html; charset=utf-8').send(notBuilt));
    return;
  }
  await app.register(fastifyStatic, {
    root,
    // One route per built file (listed at start), not a catch-all: unknown paths stay the API's 404 (or 401 under /v1/).
    wildcard: false,
    schemaHide: true,
    setHeaders(reply, file) {
      // Vite names assets after their content; index.html must be fetched again to learn new names.
      void reply.header('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
};

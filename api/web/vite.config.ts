// Builds the web form (api/web) into api/web/dist, which api/web-routes.ts serves at `/`.
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const outDir = path.join(import.meta.dirname, 'dist');

/**
 * The output directory is not emptied first: a running kiln (a test, `npm start`) keeps serving while another build
 * rewrites the same content-named files. Files this build did not write are removed afterwards.
 */
function removeStaleAssets(): Plugin {
  const written = new Set<string>();
  return {
    name: 'kiln-remove-stale-assets',
    writeBundle(_opts, bundle) {
      for (const name of Object.keys(bundle)) written.add(path.normalize(name));
    },
    async closeBundle() {
      const assets = path.join(outDir, 'assets');
      for (const file of await readdir(assets).catch(() => [] as string[])) {
        if (!written.has(path.join('assets', file))) await rm(path.join(assets, file), { force: true });
      }
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  logLevel: 'warn',
  plugins: [removeStaleAssets()],
  build: {
    outDir,
    emptyOutDir: false,
  },
});

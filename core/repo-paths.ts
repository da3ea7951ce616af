// Where kiln's own files are (committed migrations, the built web form), found by walking up from this module to the
// repository root, so the same code finds them whether it runs from source (tsx) or bundled (api/dist/).
import { existsSync } from 'node:fs';
import path from 'node:path';

function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'core', 'db', 'migrations'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`kiln's repository root (package.json + core/db/migrations) not found above ${from}`);
  }
}

export const REPO_ROOT = findRepoRoot(import.meta.dirname);
export const MIGRATIONS_DIR = path.join(REPO_ROOT, 'core', 'db', 'migrations');
export const WEB_DIST_DIR = path.join(REPO_ROOT, 'api', 'web', 'dist');

// The built volunteer page (dist/web) on demand: `simulate --browser` builds it when it is missing
// or older than the sources it bundles, so a fresh `npm ci` needs no separate build step and a
// source edit is never tested against a stale page. `vite build` takes a few seconds.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** The test build of the pages (`vite build --mode test`): the production pages plus window.__splitlora, which the browser runs read. */
export const TEST_WEB_DIR = join(REPO_ROOT, 'dist/web-test');

/** What the page bundles: its own sources, the packages it imports, public/ and the build config. */
const SOURCE_ROOTS = ['apps/web', 'packages', 'public', 'vite.config.ts'];
const SKIP = new Set(['node_modules', 'dist', '.cache']);

/** Newest modification time (ms) of any file under `path`, skipping dependencies and outputs. */
export function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (SKIP.has(e.name) || e.name.endsWith('.test.ts')) continue;
    newest = Math.max(newest, newestMtime(join(path, e.name)));
  }
  return newest;
}

/** Why `webDir` needs a build, or null when it is up to date with the sources under `root`. */
export function webBuildNeeded(webDir: string, root = REPO_ROOT): string | null {
  const page = join(webDir, 'index.html');
  if (!existsSync(page)) return `${webDir} is not built`;
  const built = statSync(page).mtimeMs;
  const sources = Math.max(...SOURCE_ROOTS.map((p) => newestMtime(join(root, p))));
  return sources > built ? `${webDir} is older than the sources` : null;
}

/** Runs `vite build --mode test` with the repository's vite.config.ts (output: dist/web-test, TEST_WEB_DIR). */
export async function buildWeb(log: (message: string) => void, reason: string, root = REPO_ROOT): Promise<void> {
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new Error(`${reason} and vite is not installed (a production install?): run "npm ci" then "npm run build:web:test"`);
  }
  log(`web: ${reason}; building it (vite build --mode test)…`);
  const t0 = performance.now();
  await vite.build({ configFile: join(root, 'vite.config.ts'), mode: 'test', logLevel: 'warn' });
  log(`web: built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/** Builds `webDir` first when it is missing or stale. */
export async function ensureWebBuilt(webDir: string, log: (message: string) => void): Promise<void> {
  const reason = webBuildNeeded(webDir);
  if (reason) await buildWeb(log, reason);
}

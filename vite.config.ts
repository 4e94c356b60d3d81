import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

// One config: `vite build` bundles the volunteer page and dashboard (apps/web) into dist/web,
// and `vitest` runs the unit and parity tests of every package from the repository root.
// `vite build --mode test` is the test build, into dist/web-test: the same pages plus the test
// hook (window.__splitlora, apps/web/src/test-hook.ts) that the Playwright specs read.
export default defineConfig(({ mode }) => ({
  root: `${root}apps/web`,
  publicDir: `${root}public`,
  build: {
    outDir: mode === 'test' ? `${root}dist/web-test` : `${root}dist/web`,
    emptyOutDir: true,
    target: 'es2022',
    // Two pages: the volunteer page and the operator dashboard.
    rollupOptions: { input: { volunteer: `${root}apps/web/index.html`, dashboard: `${root}apps/web/dashboard.html` } },
    chunkSizeWarningLimit: 2500, // tfjs with four backends plus the GPT-2 BPE tables
  },
  test: {
    root,
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The last line of a run says how many tests skipped for want of the E2E data, and how to get it.
    reporters: ['default', './test/support/e2e-skip-reporter.ts'],
  },
}));

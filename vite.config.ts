import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

// One config: `vite build` bundles the volunteer page and dashboard (apps/web) into dist/web,
// and `vitest` runs the unit and parity tests of every package from the repository root.
export default defineConfig({
  root: `${root}apps/web`,
  publicDir: `${root}public`,
  build: { outDir: `${root}dist/web`, emptyOutDir: true, target: 'es2022' },
  test: {
    root,
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});

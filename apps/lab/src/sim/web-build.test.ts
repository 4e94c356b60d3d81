// When `simulate --browser` rebuilds dist/web: missing, or older than any source it bundles.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { webBuildNeeded } from './web-build';

const root = mkdtempSync(join(tmpdir(), 'splitlora-webbuild-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function file(path: string, mtimeS: number): void {
  const p = join(root, path);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, 'x');
  utimesSync(p, mtimeS, mtimeS);
}

describe('webBuildNeeded', () => {
  it('names why dist/web needs a build, and is null when it is newer than every source', () => {
    const web = join(root, 'dist/web');
    file('apps/web/src/main.ts', 1000);
    file('packages/client/src/volunteer.ts', 1000);
    file('vite.config.ts', 1000);
    expect(webBuildNeeded(web, root)).toMatch(/is not built$/);
    file('dist/web/index.html', 2000);
    expect(webBuildNeeded(web, root)).toBeNull();
    // Tests, dependencies and outputs are not sources of the page.
    file('packages/client/src/volunteer.test.ts', 3000);
    file('packages/client/node_modules/x/index.js', 3000);
    file('packages/model/dist/index.js', 3000);
    expect(webBuildNeeded(web, root)).toBeNull();
    file('packages/client/src/volunteer.ts', 3000);
    expect(webBuildNeeded(web, root)).toMatch(/is older than the sources$/);
    file('dist/web/index.html', 4000);
    file('public/favicon.svg', 5000);
    expect(webBuildNeeded(web, root)).toMatch(/is older than the sources$/);
  });
});

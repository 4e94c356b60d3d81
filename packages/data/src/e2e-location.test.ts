import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { E2E_SKIP_NOTE, e2eCacheDir, e2eMissingHelp, e2eTitle, findE2EData, findE2EFile } from './e2e-location';

describe('findE2EData', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'splitlora-e2e-loc-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const put = (dir: string, file: string) => {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), 'x');
  };
  // A fake checkout at <tmp>/repo, with <tmp>/shared/data/e2e beside it.
  const repoRoot = join(tmp, 'repo');
  const shared = join(tmp, 'shared/data/e2e');
  const cache = join(tmp, 'cache');
  const envDir = join(tmp, 'mine');

  it('looks in $SPLITLORA_E2E_DIR, else the cache, else ../shared, and needs a file of the layout', () => {
    const env = { SPLITLORA_CACHE: cache };
    expect(findE2EData({ env, repoRoot })).toBeUndefined();
    mkdirSync(shared, { recursive: true });
    writeFileSync(join(shared, 'README'), 'not data');
    expect(findE2EData({ env, repoRoot })).toBeUndefined();
    put(shared, 'lora-format/valid.txt');
    expect(findE2EData({ env, repoRoot })).toBe(shared);
    put(join(cache, 'e2e'), 'metrics-example/devel-conc.txt');
    expect(findE2EData({ env, repoRoot })).toBe(join(cache, 'e2e'));
    // The first directory with data wins, even without the file asked for.
    expect(findE2EFile('metrics-example/devel-conc.txt', { env, repoRoot })).toBe(join(cache, 'e2e/metrics-example/devel-conc.txt'));
    expect(findE2EFile('lora-format/valid.txt', { env, repoRoot })).toBeUndefined();
    // A set $SPLITLORA_E2E_DIR is the only place looked at.
    expect(findE2EData({ env: { ...env, SPLITLORA_E2E_DIR: envDir }, repoRoot })).toBeUndefined();
    put(envDir, 'official-csv/devset.csv');
    expect(findE2EData({ env: { ...env, SPLITLORA_E2E_DIR: envDir }, repoRoot })).toBe(envDir);
  });

  it('puts the cache under $SPLITLORA_CACHE, else $XDG_CACHE_HOME/splitlora, else ~/.cache/splitlora', () => {
    expect(e2eCacheDir({ env: { SPLITLORA_CACHE: '/c', XDG_CACHE_HOME: '/x' } })).toBe('/c/e2e');
    expect(e2eCacheDir({ env: { XDG_CACHE_HOME: '/x' } })).toBe('/x/splitlora/e2e');
    expect(e2eCacheDir({ env: {} })).toMatch(/\/\.cache\/splitlora\/e2e$/);
  });

  it('says where it looked and what to run', () => {
    const help = e2eMissingHelp({ env: { SPLITLORA_CACHE: cache }, repoRoot });
    expect(help).toContain(`${join(cache, 'e2e')} (the download cache)`);
    expect(help).toContain(`${shared} (../shared beside the repository)`);
    expect(help).toContain('npm run data:e2e');
    expect(help).not.toContain('\n');
  });

  it('marks a title only when a needed file is missing', () => {
    expect(e2eTitle('t', '/a', '/b')).toBe('t');
    expect(e2eTitle('t', '/a', undefined)).toBe(`t (${E2E_SKIP_NOTE})`);
  });
});

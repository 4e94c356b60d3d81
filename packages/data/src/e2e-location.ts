// Node: the one place that decides where the E2E NLG data is. In order:
//   1. $SPLITLORA_E2E_DIR, when set (then only there: a wrong path should not fall through);
//   2. the download cache that `npm run data:e2e` fills: $SPLITLORA_CACHE/e2e, else
//      $XDG_CACHE_HOME/splitlora/e2e, else ~/.cache/splitlora/e2e;
//   3. ../shared/data/e2e beside the repository (this project's machines and CI).
// A directory counts when it holds at least one file of the layout in e2e-files.ts.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { E2E_FILES, E2E_TRAIN_FILES } from './e2e-files';

export const E2E_DIR_ENV = 'SPLITLORA_E2E_DIR';
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface E2ELocateOptions {
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  /** Default this checkout. */
  repoRoot?: string;
}

export interface E2ECandidate {
  dir: string;
  /** How the directory was chosen, for messages. */
  via: string;
}

/** Where `npm run data:e2e` puts the data. */
export function e2eCacheDir(opts: E2ELocateOptions = {}): string {
  const env = opts.env ?? process.env;
  if (env.SPLITLORA_CACHE) return resolve(env.SPLITLORA_CACHE, 'e2e');
  if (env.XDG_CACHE_HOME) return resolve(env.XDG_CACHE_HOME, 'splitlora', 'e2e');
  return join(homedir(), '.cache', 'splitlora', 'e2e');
}

/** The directories looked at, in order. */
export function e2eSearchPath(opts: E2ELocateOptions = {}): E2ECandidate[] {
  const env = opts.env ?? process.env;
  const fromEnv = env[E2E_DIR_ENV];
  if (fromEnv) return [{ dir: resolve(fromEnv), via: `$${E2E_DIR_ENV}` }];
  return [
    { dir: e2eCacheDir(opts), via: 'the download cache' },
    { dir: resolve(opts.repoRoot ?? REPO_ROOT, '../shared/data/e2e'), via: '../shared beside the repository' },
  ];
}

/** True when dir holds at least one file of the E2E layout. */
export function holdsE2EData(dir: string): boolean {
  return [...E2E_FILES, ...E2E_TRAIN_FILES].some((f) => existsSync(join(dir, f.path)));
}

/** The E2E data directory, or undefined when there is none. */
export function findE2EData(opts: E2ELocateOptions = {}): string | undefined {
  return e2eSearchPath(opts).find((c) => holdsE2EData(c.dir))?.dir;
}

/** The absolute path of one file of the layout ("lora-format/valid.txt"), or undefined when absent. */
export function findE2EFile(path: string, opts: E2ELocateOptions = {}): string | undefined {
  const dir = findE2EData(opts);
  const file = dir === undefined ? undefined : join(dir, path);
  return file !== undefined && existsSync(file) ? file : undefined;
}

/** Marks a test title that skipped for want of E2E data; the vitest reporter counts these. */
export const E2E_SKIP_NOTE = 'skipped: no E2E data, see npm run data:e2e';

/** A describe/test title that says why it skipped when any of the files it needs is missing. */
export function e2eTitle(title: string, ...files: (string | undefined)[]): string {
  return files.every((f) => f !== undefined) ? title : `${title} (${E2E_SKIP_NOTE})`;
}

/** One line: where the data was looked for and how to get it. */
export function e2eMissingHelp(opts: E2ELocateOptions = {}): string {
  const looked = e2eSearchPath(opts).map((c) => `${c.dir} (${c.via})`).join(', ');
  return `no E2E NLG data in ${looked}; run \`npm run data:e2e\` to download it into the cache, or set ${E2E_DIR_ENV} to a directory that holds it`;
}

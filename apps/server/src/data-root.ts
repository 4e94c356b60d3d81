// Evaluation data files come from one directory the operator chose (serve --data-root, default
// the data directory). A requested path is resolved inside it; anything that leaves it, by "..",
// an absolute path or a symlink anywhere below the root, is refused, so the API cannot be used to
// read (and score) arbitrary files the server process can read.
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { invalid } from './errors';

export const E_DATA_PATH = 'E_DATA_PATH';

export class DataRoot {
  /** The root's real path (it may itself sit behind a symlink, e.g. /tmp on some systems). */
  readonly dir: string;

  constructor(dir: string) {
    this.dir = realpathSync(resolve(dir));
  }

  /** The real path of `requested` (relative to the root, or absolute inside it); throws a domain error otherwise. */
  resolve(requested: string): string {
    const where = `data file "${requested}"`;
    if (requested.includes('\0')) throw invalid(`${where}: the path holds a NUL byte`, E_DATA_PATH);
    const path = resolve(this.dir, requested);
    const rel = relative(this.dir, path);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw invalid(`${where} is outside the data root ${this.dir}; give a path inside it (serve --data-root sets it)`, E_DATA_PATH);
    }
    let real: string;
    try {
      real = realpathSync(path);
    } catch {
      throw invalid(`${where} does not exist in the data root ${this.dir}`, E_DATA_PATH);
    }
    if (real !== path) throw invalid(`${where} goes through a symlink; the data root ${this.dir} serves only plain files and directories`, E_DATA_PATH);
    const st = statSync(real);
    if (!st.isFile() && !st.isDirectory()) throw invalid(`${where} is not a file or directory`, E_DATA_PATH);
    return real;
  }
}

/** What a server without a data root answers for any data path. */
export function noDataRoot(requested: string): never {
  throw invalid(`data file "${requested}": this server has no data root, so it reads no data files; start it with --data-root DIR (or --data-dir)`, E_DATA_PATH);
}

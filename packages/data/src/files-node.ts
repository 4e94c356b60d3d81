// Node-only: reads a data file from disk. Kept out of index.ts so the browser bundle never
// pulls in node:fs. Import it as '@splitlora/data/node' (or the src/files-node path).
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ParseOptions, ParseResult } from './examples';
import { harvestMrValues, type MrValues } from './e2e-schema';
import { parseDataFile, type DataFormat } from './loaders';

export class DataFileError extends Error {
  constructor(
    readonly code: 'DATA_FILE_NOT_FOUND' | 'DATA_FILE_UNREADABLE',
    message: string,
  ) {
    super(message);
    this.name = 'DataFileError';
  }
}

/** Reads and parses one data file; bad lines throw DataFormatError naming path:line. */
export async function readDataFile(
  path: string,
  format: DataFormat | 'auto' = 'auto',
  opts: ParseOptions = {},
): Promise<ParseResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') {
      throw new DataFileError('DATA_FILE_NOT_FOUND', `data file not found: ${path} (looked at ${resolve(path)}; check the path)`);
    }
    throw new DataFileError('DATA_FILE_UNREADABLE', `cannot read data file ${path}: ${err.message}`);
  }
  return parseDataFile(text, path, format, opts);
}

/** The slot values of the MRs (the context side only) of an E2E data file, for e2eSchemaCorpus. */
export async function readMrValues(path: string, format: DataFormat | 'auto' = 'auto'): Promise<MrValues> {
  const { examples } = await readDataFile(path, format);
  if (examples.length === 0) throw new Error(`no MRs in ${path}: expected lora-format "MR||ref" lines or the official CSV`);
  return harvestMrValues(examples.map((e) => e.context));
}

export { E2E_DIR_ENV, E2E_SKIP_NOTE, e2eCacheDir, e2eMissingHelp, e2eSearchPath, e2eTitle, findE2EData, findE2EFile, holdsE2EData } from './e2e-location';
export { E2E_FILES, E2E_TRAIN_FILES, e2eUrl } from './e2e-files';
export type { E2EFile, E2ESource } from './e2e-files';

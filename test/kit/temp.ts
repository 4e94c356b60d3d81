// Temporary folders for a test file (vitest): made before its tests, removed after them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GPT2Config } from '@splitlora/model';
import { afterAll, beforeAll } from 'vitest';
import { TINY } from './tiny';

/** A new empty folder under the OS temp dir, named splitlora-<name>-XXXXXX. */
export function makeTempDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `splitlora-${name}-`));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/**
 * A temp folder for the enclosing describe (or file): returns a getter, valid from beforeAll on.
 * `fill` runs once the folder exists (before any test).
 */
export function useTempDir(name: string, fill?: (dir: string) => Promise<unknown>): () => string {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await makeTempDir(name);
    await fill?.(dir);
  });
  afterAll(async () => {
    if (dir) await removeDir(dir);
  });
  return () => {
    if (!dir) throw new Error('the temp dir exists from beforeAll on');
    return dir;
  };
}

export interface TempModel {
  /** The temp folder (the model is its `model/` subfolder). */
  dir(): string;
  /** The model's folder: an HF GPT-2 directory (config.json, model.safetensors). */
  model(): string;
}

/**
 * A temp folder holding a random GPT-2 in `model/` (writeRandomModel: seed, wte std), for the
 * CLI commands that take --model. Default: TINY, seed 1, wte std 0.5.
 */
export function useTempModel(name: string, config: GPT2Config = TINY, init: { seed?: number; wteStd?: number } = {}): TempModel {
  const dir = useTempDir(name, async (d) => {
    const { writeRandomModel } = await import('@splitlora/lab'); // only the tests that write a model load the lab
    await writeRandomModel(join(d, 'model'), config, { seed: init.seed ?? 1, wteStd: init.wteStd ?? 0.5 });
  });
  return { dir, model: () => join(dir(), 'model') };
}

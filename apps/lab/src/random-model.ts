// Randomly initialised GPT-2 checkpoints: GPT-2's own init, with an optional larger token-embedding
// scale. Why: with wte ~ N(0, 0.02²) the tied head's logits on a random base stay within about ±1,
// so the next-token distribution is nearly uniform whatever the hidden state, and a LoRA adapter
// can hardly lower the loss. A larger wte scale gives the head room to express what LoRA learns,
// as a pretrained base would.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { INITIALIZER_RANGE, initGpt2Weights, numel, type Dtype, type GPT2Config, type TensorRecord } from '@splitlora/model';
import { saveGpt2Dir } from '@splitlora/model/node';

/** Recorded next to config.json so a cached model can tell whether it is still what we want. */
export interface InitRecord {
  preset?: string;
  seed: number;
  wteStd: number;
}

export const INIT_RECORD_FILE = 'splitlora-init.json';

/** GPT-2's init (initGpt2Weights), then wte rescaled from std 0.02 to `wteStd`. Deterministic in seed. */
export function randomGpt2Weights(cfg: GPT2Config, seed: number, wteStd = INITIALIZER_RANGE): TensorRecord {
  const weights = initGpt2Weights(cfg, seed);
  if (wteStd !== INITIALIZER_RANGE) {
    const wte = weights['wte.weight'].data;
    const scale = wteStd / INITIALIZER_RANGE;
    for (let j = 0; j < wte.length; j++) wte[j] *= scale;
  }
  return weights;
}

export function countParams(weights: TensorRecord): number {
  let n = 0;
  for (const t of Object.values(weights)) n += numel(t.shape);
  return n;
}

/** Writes config.json + model.safetensors (+ the init record) into `dir`. Returns the parameter count. */
export async function writeRandomModel(dir: string, cfg: GPT2Config, init: InitRecord, dtype: Dtype = 'F32'): Promise<number> {
  const weights = randomGpt2Weights(cfg, init.seed, init.wteStd);
  await saveGpt2Dir(dir, cfg, weights, dtype);
  await writeFile(join(dir, INIT_RECORD_FILE), JSON.stringify(init, null, 2) + '\n');
  return countParams(weights);
}

/** Like writeRandomModel, but builds in a sibling temp dir and renames it into place, so readers never see half a model. */
export async function writeRandomModelAtomic(dir: string, cfg: GPT2Config, init: InitRecord): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  try {
    await writeRandomModel(tmp, cfg, init);
    await rename(tmp, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

// Node: a pretraining checkpoint directory, written atomically so a crash leaves either the old
// checkpoint or the new one, never half of one:
//   model.safetensors + config.json   the F32 weights (an ordinary Hugging Face GPT-2 directory)
//   optimizer.safetensors             AdamW moments, "m.<name>" and "v.<name>"
//   state.json                        step, data position and the run's settings (caller's JSON)
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSafetensors, writeSafetensors, type TensorRecord } from '@splitlora/tensor';
import type { GPT2Config } from '../config';
import { CheckpointError } from './errors';
import { loadGpt2Dir, saveGpt2Dir } from './hf-gpt2-node';

export interface PretrainCheckpoint {
  config: GPT2Config;
  weights: TensorRecord;
  optimizer: { step: number; m: TensorRecord; v: TensorRecord };
  /** JSON the trainer needs to continue (data cursor, settings); saved as state.json. */
  state: Record<string, unknown>;
}

const OPTIMIZER_FILE = 'optimizer.safetensors';
const STATE_FILE = 'state.json';

const exists = (p: string) => stat(p).then(() => true, () => false);

/** Writes into `${dir}.tmp-…`, then swaps it in by rename (the previous one is kept as `${dir}.old` until then). */
export async function savePretrainCheckpoint(dir: string, ckpt: PretrainCheckpoint): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  const old = `${dir}.old`;
  await rm(tmp, { recursive: true, force: true });
  await saveGpt2Dir(tmp, ckpt.config, ckpt.weights, 'F32');
  const moments: TensorRecord = {};
  for (const [k, t] of Object.entries(ckpt.optimizer.m)) moments[`m.${k}`] = t;
  for (const [k, t] of Object.entries(ckpt.optimizer.v)) moments[`v.${k}`] = t;
  await writeFile(join(tmp, OPTIMIZER_FILE), writeSafetensors(moments));
  await writeFile(join(tmp, STATE_FILE), JSON.stringify({ ...ckpt.state, step: ckpt.optimizer.step }, null, 2) + '\n');
  await rm(old, { recursive: true, force: true });
  if (await exists(dir)) await rename(dir, old);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}

/** The checkpoint in `dir` (or in `${dir}.old` when a crash came between the two renames), or null if none. */
export async function loadPretrainCheckpoint(dir: string): Promise<PretrainCheckpoint | null> {
  const from = (await exists(join(dir, STATE_FILE))) ? dir : (await exists(join(`${dir}.old`, STATE_FILE))) ? `${dir}.old` : null;
  if (!from) return null;
  const { config, weights } = await loadGpt2Dir(from);
  const state = JSON.parse(await readFile(join(from, STATE_FILE), 'utf8')) as Record<string, unknown>;
  const parsed = parseSafetensors(new Uint8Array(await readFile(join(from, OPTIMIZER_FILE))));
  const m: TensorRecord = {};
  const v: TensorRecord = {};
  for (const [k, t] of Object.entries(parsed.tensors)) {
    if (k.startsWith('m.')) m[k.slice(2)] = t;
    else if (k.startsWith('v.')) v[k.slice(2)] = t;
    else throw new CheckpointError('UNEXPECTED_TENSOR', `${join(from, OPTIMIZER_FILE)}: unexpected tensor "${k}"`);
  }
  const step = state.step;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) throw new CheckpointError('BAD_HEADER', `${join(from, STATE_FILE)}: "step" must be an integer >= 0`);
  return { config, weights, optimizer: { step, m, v }, state };
}

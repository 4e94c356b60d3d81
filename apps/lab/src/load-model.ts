// Base model (+ optional PEFT adapter) → a FullModel ready for evaluation or decoding.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FullModel, SPLITLORA_ADAMW, disposeWeights, toWeights, type GPT2Config, type LoraConfig } from '@splitlora/model';
import { loadAdapterDir, loadGpt2Dir } from '@splitlora/model/node';
import { resolveModel } from './model-source';

/** A one-slot adapter with B = 0: exactly the base model (FullModel always carries an adapter). */
const NO_ADAPTER: LoraConfig = { r: 1, alpha: 1, dropout: 0, targets: ['q'] };

export interface LoadedModel {
  model: FullModel;
  config: GPT2Config;
  /** Resolved model directory. */
  dir: string;
  adapter?: { dir: string; cfg: LoraConfig };
  dispose(): void;
}

/** `log`: where the model's description goes (default: stderr). */
export async function loadModel(source: string | undefined, adapterDir?: string, log = (m: string) => { process.stderr.write(m + '\n'); }): Promise<LoadedModel> {
  const dir = await resolveModel(source, { log });
  // Check the adapter before reading a possibly large base model.
  const adapterPath = adapterDir === undefined ? undefined : resolve(adapterDir);
  if (adapterPath !== undefined && !(await stat(adapterPath).catch(() => undefined))?.isDirectory()) {
    throw new Error(`adapter directory not found: ${adapterPath} (pass the directory holding adapter_config.json and adapter_model.safetensors)`);
  }
  const { config, weights: host } = await loadGpt2Dir(dir);
  const adapter = adapterPath === undefined ? undefined : await loadAdapterDir(adapterPath);
  const weights = toWeights(host);
  const optimizer = { lr: 0, ...SPLITLORA_ADAMW }; // evaluation only: never stepped
  let model: FullModel;
  try {
    model = adapter ? new FullModel(config, weights, { lora: adapter.cfg, optimizer, adapter: adapter.lora }) : new FullModel(config, weights, { lora: NO_ADAPTER, optimizer });
  } catch (e) {
    disposeWeights(weights);
    throw new Error(`adapter ${adapterPath} does not fit model ${dir}: ${(e as Error).message} (was it trained on another base model?)`);
  }
  log(`model: ${dir} (${config.nLayer} layers × d=${config.nEmbd}, vocab ${config.vocabSize})${adapter ? `; adapter: ${adapterPath} (r=${adapter.cfg.r}, ${adapter.cfg.targets.join(',')})` : ''}`);
  return {
    model,
    config,
    dir,
    ...(adapter && { adapter: { dir: adapterPath!, cfg: adapter.cfg } }),
    dispose() {
      model.dispose();
      disposeWeights(weights);
    },
  };
}

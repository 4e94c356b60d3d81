import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TensorRecord } from '@splitlora/tensor';
import { SPLITLORA_ADAMW } from './adamw';
import { initGpt2Weights } from './checkpoint/init';
import { adapterFromPeft, adapterToPeft } from './checkpoint/peft';
import type { GPT2Config } from './config';
import { initLora, mergeLora, type LoraConfig } from './lora';
import { FullModel, toWeights } from './split';

const cfg: GPT2Config = { vocabSize: 61, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
const lora: LoraConfig = { r: 2, alpha: 6, dropout: 0.1, targets: ['q', 'v', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] };
const noop: LoraConfig = { r: 1, alpha: 1, dropout: 0, targets: ['q'] };
const opt = { lr: 0, ...SPLITLORA_ADAMW };

/** An adapter with non-zero B, so it changes the outputs. */
function trainedAdapter(): TensorRecord {
  const rec = initLora(cfg, lora, 0, cfg.nLayer, 1);
  let x = 7;
  for (const [k, t] of Object.entries(rec)) if (k.endsWith('lora_B')) t.data = t.data.map(() => ((x = (x * 48271) % 2147483647) / 2147483647 - 0.5) * 0.3);
  return rec;
}

async function logitsOf(model: FullModel, ids: Int32Array): Promise<Float32Array> {
  const t = model.logits(ids, 1, ids.length);
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

beforeAll(async () => { await selectNodeBackend('wasm', () => {}); });

describe('LoRA adapters', () => {
  const base = toWeights(initGpt2Weights(cfg, 3));
  const ids = Int32Array.from([5, 17, 3, 40, 22, 9, 60, 1]);
  const adapter = trainedAdapter();

  it('outputs with an adapter equal the base model with merged weights', async () => {
    const withAdapter = new FullModel(cfg, base, { lora, optimizer: opt, adapter });
    const merged = mergeLora(cfg, base, { cfg: lora, params: withAdapter.vars });
    const plain = new FullModel(cfg, merged, { lora: noop, optimizer: opt });
    const a = await logitsOf(withAdapter, ids);
    const b = await logitsOf(plain, ids);
    const baseOnly = await logitsOf(new FullModel(cfg, base, { lora: noop, optimizer: opt }), ids);
    expect(maxAbsDiff(baseOnly, a)).toBeGreaterThan(1e-2); // the adapter matters
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-4);
    tf.dispose(Object.keys(merged).filter((k) => merged[k] !== base[k]).map((k) => merged[k]));
  });

  it('round-trips through the PEFT files with identical outputs', async () => {
    const files = adapterToPeft(adapter, lora);
    const back = adapterFromPeft(JSON.parse(JSON.stringify(files.configJson)), files.safetensors);
    expect(back.cfg.targets.sort()).toEqual([...lora.targets].sort());
    for (const [k, t] of Object.entries(adapter)) expect(Array.from(back.lora[k].data)).toEqual(Array.from(t.data));
    const a = await logitsOf(new FullModel(cfg, base, { lora, optimizer: opt, adapter }), ids);
    const b = await logitsOf(new FullModel(cfg, base, { lora: back.cfg, optimizer: opt, adapter: back.lora }), ids);
    expect(maxAbsDiff(a, b)).toBe(0);
  });
});

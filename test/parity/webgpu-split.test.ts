// Node webgpu (Dawn; SwiftShader on CPU-only machines) against wasm on one split step of a tiny
// GPT-2: the loss, the cut gradient the server returns, every LoRA gradient on both sides, and
// the adapters after one optimiser step. Both backends run in this process, one after the other,
// from the same plain-number weights.
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { ClientModel, ServerModel, initGpt2Weights, initLora, maskWeights, toWeights, disposeWeights, type GPT2Config, type LoraConfig, type TensorRecord } from '@splitlora/model';
import { beforeAll, describe, expect, it } from 'vitest';
import { WEBGPU_SKIP, webgpuTitle } from '../support/webgpu';

const cfg: GPT2Config = { vocabSize: 97, nPositions: 16, nEmbd: 16, nLayer: 3, nHead: 2, layerNormEps: 1e-5 };
const lora: LoraConfig = { r: 2, alpha: 8, dropout: 0.1, targets: ['q', 'v'] };
const optimizer = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01 };
const cut = 1, B = 2, T = 8, seed = 4321;

type Floats = Record<string, Float32Array>;
interface StepOutcome { loss: number; gradActs: Float32Array; grads: Floats; adapterAfter: Floats; log: string[] }

function inputs() {
  const ids = Int32Array.from({ length: B * T }, (_, j) => (j * 31 + 7) % cfg.vocabSize);
  const targets = Int32Array.from({ length: B * T }, (_, j) => (j * 17 + 3) % cfg.vocabSize);
  const mask = Float32Array.from({ length: B * T }, (_, j) => (j % T >= 3 ? 1 : 0)); // a prompt of 3 tokens
  return { ids, targets, w: maskWeights(mask) };
}

// A real init has B = 0, which makes every A-gradient zero; random B exercises them all.
function adapter(from: number, to: number): TensorRecord {
  const rec = initLora(cfg, lora, from, to, 11 + from);
  let x = 7 + from;
  for (const [k, t] of Object.entries(rec)) if (k.endsWith('lora_B')) t.data = t.data.map(() => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.2);
  return rec;
}

const floats = async (rec: Record<string, tf.Tensor>): Promise<Floats> =>
  Object.fromEntries(await Promise.all(Object.entries(rec).map(async ([k, t]) => [k, (await t.data()) as Float32Array] as const)));

async function splitStep(backend: string, base: TensorRecord): Promise<StepOutcome> {
  const log: string[] = [];
  expect(await selectNodeBackend(backend, (m) => log.push(m))).toBe(backend);
  const { ids, targets, w } = inputs();
  const weights = toWeights(base);
  const client = new ClientModel(cfg, weights, cut, { lora, optimizer, adapter: adapter(0, cut) });
  const server = new ServerModel(cfg, weights, cut, { lora, optimizer, adapter: adapter(cut, cfg.nLayer) });
  const opts = { smoothing: 0.1, dropoutSeed: seed };

  const acts = client.forward(ids, B, T, seed);
  const s = server.grads(acts, targets, w, opts);
  const clientGrads = client.grads(ids, B, T, seed, s.gradActs);
  const out = {
    loss: (await s.loss.data())[0],
    gradActs: (await s.gradActs.data()) as Float32Array,
    grads: { ...(await floats(s.grads)), ...(await floats(clientGrads)) },
  };
  tf.dispose([s.loss, s.rowLoss, s.gradActs, ...Object.values(s.grads), ...Object.values(clientGrads)]);

  // One optimiser step on both sides, as a real split step does it.
  const stepped = await server.step(acts, targets, w, opts);
  client.backward(ids, B, T, seed, stepped.gradActs);
  const after = { ...(await server.adapter()), ...(await client.adapter()) };
  tf.dispose([acts, stepped.gradActs]);
  client.dispose(); server.dispose(); disposeWeights(weights);
  return { ...out, adapterAfter: Object.fromEntries(Object.entries(after).map(([k, t]) => [k, t.data as Float32Array])), log };
}

/** Largest |a − b| over the largest |b| (at least 1e-3, so near-zero tensors are compared absolutely). */
function relMaxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0, scale = 1e-3;
  for (let i = 0; i < a.length; i++) { diff = Math.max(diff, Math.abs(a[i] - b[i])); scale = Math.max(scale, Math.abs(b[i])); }
  return diff / scale;
}

describe.skipIf(WEBGPU_SKIP !== null)(webgpuTitle('Node webgpu equals wasm on one split step'), () => {
  let wasm: StepOutcome;
  let webgpu: StepOutcome;
  beforeAll(async () => {
    const base = initGpt2Weights(cfg, 3);
    base['wte.weight'].data = base['wte.weight'].data.map((x) => x * 25); // logits wide enough to matter
    wasm = await splitStep('wasm', base);
    webgpu = await splitStep('webgpu', base);
  }, 300_000);

  it('ran on webgpu and named the adapter', () => {
    expect(webgpu.log.join('\n')).toMatch(/tfjs backend: webgpu \(requested; adapter vendor \S+/);
  });

  it('the loss agrees within 1e-4', () => {
    expect(Number.isFinite(wasm.loss)).toBe(true);
    expect(Math.abs(webgpu.loss - wasm.loss)).toBeLessThan(1e-4);
  });

  it('the cut gradient ∂loss/∂acts agrees within 1e-4', () => {
    expect(wasm.gradActs.some((x) => x !== 0)).toBe(true);
    expect(relMaxDiff(webgpu.gradActs, wasm.gradActs)).toBeLessThan(1e-4);
  });

  it('every LoRA gradient, server and client, agrees within 1e-4', () => {
    expect(Object.keys(webgpu.grads).sort()).toEqual(Object.keys(wasm.grads).sort());
    expect(Object.keys(wasm.grads).length).toBe(cfg.nLayer * 4); // A and B of q and v in every block
    for (const [name, want] of Object.entries(wasm.grads)) {
      expect(want.some((x) => x !== 0), name).toBe(true);
      expect(relMaxDiff(webgpu.grads[name], want), name).toBeLessThan(1e-4);
    }
  });

  it('the adapters after one AdamW step agree within 1e-4', () => {
    for (const [name, want] of Object.entries(wasm.adapterAfter)) expect(relMaxDiff(webgpu.adapterAfter[name], want), name).toBeLessThan(1e-4);
  });
});

// With one client, SplitLoRA (interval 1) and FedLoRA both train exactly like CenLoRA, step by step.
import { type TensorRecord } from '@splitlora/model';
import { describe, expect, it } from 'vitest';
import { runCen } from './cen';
import { loadSimData } from './data';
import { runFed } from './fed';
import { runSplitInProcess } from './split-in-process';
import { tinyModel, tinySettings } from '../../../../test/kit/tiny';
import { useWasmWeights } from '../../../../test/kit/wasm';
import type { SimData } from './types';

const model = tinyModel();
const wasmWeights = useWasmWeights(model);

function maxDiff(a: TensorRecord, b: TensorRecord): number {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  let worst = 0;
  for (const [name, t] of Object.entries(a)) t.data.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - b[name].data[j]))));
  return worst;
}

function data(clients: number, seed = 3): Promise<SimData> {
  return loadSimData({ examples: 40, heldout: 6, partition: 'iid', clients, seed });
}

describe('with one client', () => {
  it('SplitLoRA with interval 1 equals CenLoRA step by step (losses and adapters within 1e-4)', async () => {
    // LoRA dropout 0: client and server draw their masks from different seeds, the whole model from one.
    const s = tinySettings({ clients: 1, steps: 4, interval: 1, batch: 3 });
    const d = await data(1);
    const cen = await runCen(model, wasmWeights(), s, d);
    const split = await runSplitInProcess(model, s, d);
    expect(split.losses[0]).toHaveLength(4);
    split.losses[0].forEach((l, j) => expect(Math.abs(l - cen.losses[0][j]), `step ${j}`).toBeLessThan(1e-4));
    expect(split.checkpoints.map((c) => c.globalStep)).toEqual(cen.checkpoints.map((c) => c.globalStep));
    for (const [j, c] of split.checkpoints.entries()) expect(maxDiff(c.adapter, cen.checkpoints[j].adapter), `checkpoint ${j}`).toBeLessThan(1e-4);
    expect(maxDiff(split.checkpoints[4].adapter, split.checkpoints[0].adapter)).toBeGreaterThan(1e-3);
  });

  it('FedLoRA equals CenLoRA on the whole model, dropout included', async () => {
    const s = tinySettings({ clients: 1, steps: 4, interval: 2, batch: 3, lora: { r: 4, alpha: 8, dropout: 0.1, targets: ['q', 'v'] } });
    const d = await data(1);
    const cen = await runCen(model, wasmWeights(), s, d);
    const fed = await runFed(model, wasmWeights(), s, d);
    expect(fed.losses[0]).toHaveLength(4);
    fed.losses[0].forEach((l, j) => expect(Math.abs(l - cen.losses[0][j]), `step ${j}`).toBeLessThan(1e-6));
    expect(fed.checkpoints.map((c) => c.globalStep)).toEqual([0, 2, 4]);
    for (const [j, c] of fed.checkpoints.entries()) expect(maxDiff(c.adapter, cen.checkpoints[j].adapter), `checkpoint ${j}`).toBeLessThan(1e-6);
    expect(maxDiff(fed.checkpoints[2].adapter, fed.checkpoints[0].adapter)).toBeGreaterThan(1e-3);
  });
});

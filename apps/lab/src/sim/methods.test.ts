// The three methods on a tiny model with two clients: each completes, releases its tensors and
// leaves checkpoints that score on the held-out set.
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { toWeights, type Weights } from '@splitlora/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCen } from './cen';
import { loadSimData } from './data';
import { heldoutCurve } from './evaluate';
import { runFed } from './fed';
import { runSplitInProcess } from './split-in-process';
import { tinyModel, tinySettings } from '../../../../test/kit/tiny';
import type { MethodRun, SimData } from './types';

const model = tinyModel();
let weights: Weights;

beforeAll(async () => {
  await selectNodeBackend('wasm', () => {});
  weights = toWeights(model.weights);
  // The model keeps a transposed copy of each frozen weight on first use; make them before counting tensors.
  await runCen(model, weights, tinySettings({ clients: 1, steps: 1 }), await data(1));
});
afterAll(() => {
  tf.dispose(Object.values(weights ?? {}));
});

function data(clients: number, seed = 3): Promise<SimData> {
  return loadSimData({ examples: 40, heldout: 6, partition: 'iid', clients, seed });
}

describe('each method on two clients', () => {
  it('CenLoRA, SplitLoRA and FedLoRA complete with finite losses, checkpoints and bytes', async () => {
    const s = tinySettings({ clients: 2, steps: 2, interval: 1, lora: { r: 4, alpha: 8, dropout: 0.1, targets: ['q', 'v'] } });
    const d = await data(2);
    const before = tf.memory().numTensors;
    const local = [await runCen(model, weights, s, d), await runFed(model, weights, s, d)];
    expect(tf.memory().numTensors).toBe(before); // every model, optimiser and intermediate released
    const runs: MethodRun[] = [local[0], await runSplitInProcess(model, s, d), local[1]];
    for (const r of runs) {
      const clientsTraining = r.method === 'cen' ? 1 : 2;
      expect(r.losses, r.method).toHaveLength(clientsTraining);
      for (const l of r.losses) {
        expect(l).toHaveLength(r.method === 'cen' ? 4 : 2);
        for (const x of l) expect(Number.isFinite(x) && x > 0).toBe(true);
      }
      expect(r.aggregations).toBe(r.method === 'cen' ? 0 : 2);
      expect(r.checkpoints.map((c) => c.globalStep)).toEqual([0, 2, 4]);
      expect(r.bytesUp).toHaveLength(2);
      for (const b of [...r.bytesUp, ...(r.method === 'cen' ? [] : r.bytesDown)]) expect(b).toBeGreaterThan(0);
      expect(r.backends.every((b) => b === 'wasm')).toBe(true);
      expect(r.meanSeqLen).toBeGreaterThan(5);
    }
    // SplitLoRA's measured traffic covers at least its activations up and gradients down (float32, B·T·d each).
    const split = runs[1];
    const actBytes = 4 * s.batch * split.meanSeqLen * model.config.nEmbd * s.steps;
    for (const c of [0, 1]) {
      expect(split.bytesUp[c]).toBeGreaterThan(actBytes);
      expect(split.bytesDown[c]).toBeGreaterThan(actBytes);
    }
    // The final snapshots score on the held-out set.
    const curve = await heldoutCurve(model, weights, s, d.heldout, runs.map((r) => r.checkpoints[r.checkpoints.length - 1]));
    for (const p of curve) expect(Number.isFinite(p.heldoutLoss) && p.perplexity > 1).toBe(true);
  });
});


// The U-shaped server part (labels "client") as the compute worker runs it: a batched forward and
// backward of two clients give each client exactly what it would get alone, held forwards are
// freed when used, dropped or restored over, and a backward with nothing held answers null.
import { selectNodeBackend } from '@splitlora/backend/node';
import { initGpt2Weights, toWeights, type GPT2Config } from '@splitlora/model';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalServerCompute, type ServerPartSpec } from './server-compute';

const cfg: GPT2Config = { vocabSize: 61, nPositions: 32, nEmbd: 16, nLayer: 3, nHead: 2, layerNormEps: 1e-5 };
const spec: ServerPartSpec = { config: cfg, cut: 1, lora: { r: 2, alpha: 4, dropout: 0.1, targets: ['q', 'v'] }, seed: 3, lr: 1e-2, schedule: { kind: 'constant' }, smoothing: 0.1, labels: 'client' };
const host = (shape: number[], k: number) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, j) => Math.sin(j * 0.37 + k)) });
const relErr = (a: Float32Array, b: Float32Array) => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num) / Math.sqrt(den);
};

beforeAll(async () => { await selectNodeBackend('wasm', () => {}); });

describe('U-shaped server compute', () => {
  const weights = toWeights(initGpt2Weights(cfg, 2));
  // B moves off zero first, so that ∂loss/∂h_k depends on the server adapter.
  const trained = async () => {
    const c = new LocalServerCompute(weights, spec);
    await c.forwardTop([{ clientId: 'w', step: 0, acts: host([2, 5, 16], 9) }]);
    await c.backwardTop([{ clientId: 'w', step: 0, grad: host([2, 5, 16], 10) }]);
    return c.snapshot();
  };

  it('two clients in one batched forward and backward each get exactly their own h_L and ∂loss/∂h_k', async () => {
    const from = await trained();
    const a = { acts: host([2, 6, 16], 1), grad: host([2, 6, 16], 2) };
    const b = { acts: host([3, 4, 16], 3), grad: host([3, 4, 16], 4) }; // shorter: padded in the batch
    const batched = new LocalServerCompute(weights, { ...spec, from });
    const f = await batched.forwardTop([{ clientId: 'a', step: 0, ...a }, { clientId: 'b', step: 0, ...b }]);
    expect(batched.heldCount).toBe(2);
    const g = await batched.backwardTop([{ clientId: 'a', step: 0, grad: a.grad }, { clientId: 'b', step: 0, grad: b.grad }]);
    expect(batched.heldCount).toBe(0);
    expect(g.replies.map((r) => r!.grad.shape)).toEqual([[2, 6, 16], [3, 4, 16]]);

    // Each alone, in the same order (forward n of the part gets seed n, so b is forward 1 again).
    for (const [j, [id, x]] of ([['a', a], ['b', b]] as const).entries()) {
      const alone = new LocalServerCompute(weights, { ...spec, from });
      if (j === 1) await alone.forwardTop([{ clientId: 'a', step: 0, acts: a.acts }]); // consume forward 0
      const top = (await alone.forwardTop([{ clientId: id, step: 0, acts: x.acts }])).replies[0].top;
      const grad = (await alone.backwardTop([{ clientId: id, step: 0, grad: x.grad }])).replies[0]!.grad;
      expect(relErr(f.replies[j].top.data, top.data), `${id} top`).toBeLessThan(1e-6);
      expect(relErr(g.replies[j]!.grad.data, grad.data), `${id} ∂h_k`).toBeLessThan(1e-5);
      await alone.dispose();
    }
    await batched.dispose();
  });

  it('frees held forwards: a new front replaces, drop and restore clear, a backward without one answers null', async () => {
    const c = new LocalServerCompute(weights, spec);
    await c.forwardTop([{ clientId: 'a', step: 0, acts: host([1, 4, 16], 1) }]);
    await c.forwardTop([{ clientId: 'a', step: 1, acts: host([1, 4, 16], 2) }]); // a retry of the same client
    expect(c.heldCount).toBe(1);
    expect((await c.backwardTop([{ clientId: 'a', step: 0, grad: host([1, 4, 16], 3) }])).replies).toEqual([null]);
    await c.forwardTop([{ clientId: 'b', step: 0, acts: host([1, 4, 16], 4) }]);
    await c.dropHeld('a');
    expect(c.heldCount).toBe(1);
    const steps = c.stats.serverSteps;
    await c.restore(await c.snapshot());
    expect(c.heldCount).toBe(0);
    expect((await c.backwardTop([{ clientId: 'b', step: 0, grad: host([1, 4, 16], 5) }])).replies).toEqual([null]);
    expect(c.stats.serverSteps).toBe(steps); // nothing was applied
    await expect(c.step([])).rejects.toThrow(/labels "client"/);
    await c.dispose();
  });
});

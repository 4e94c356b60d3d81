import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { beforeAll, describe, expect, it } from 'vitest';
import { benchConfig, benchTables } from './bench-model';

beforeAll(async () => {
  await selectNodeBackend('wasm', () => {});
});

describe('bench-model', () => {
  it('measures a tiny config: consistent throughput numbers and no leaked tensors', async () => {
    const cfg = { vocabSize: 500, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
    const toy = { name: 'toy', cfg, batch: 2, seqLen: 8 };
    await benchConfig(toy, 0, 1, 10); // first use: tfjs keeps a tensor or two for good
    const before = tf.memory().numTensors;
    const r = await benchConfig(toy, 1, 2, 10);
    // packages/model leaks per new model: AdamW keeps the zerosLike each m/v variable was made from
    // (2 per LoRA tensor, 8 LoRA tensors here), and FullModel's first step keeps one more.
    // Anything beyond that would be the bench's own leak.
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(17);
    for (const v of [r.stepMs, r.forwardMs, r.headMs, r.tokensPerSec, r.achievedGflops]) expect(v).toBeGreaterThan(0);
    expect(r.tokensPerSec).toBeCloseTo(16 / (r.stepMs / 1000), 6);
    expect(r.msPerToken).toBeCloseTo(r.stepMs / 16, 6);
    expect(r.matmulRatio).toBeCloseTo(r.achievedGflops / 10, 6);
    expect(r.headFlopShare).toBeGreaterThan(0);
    expect(r.headFlopShare).toBeLessThan(1);
    expect(r.lossRows).toBe(16);
    expect(r.part).toBe('full');
    expect(r.weightBytes).toBeGreaterThan(0);
    expect(r.peakBytes).toBeGreaterThanOrEqual(r.weightBytes);
    expect(r.wasmHeapBytes).toBeGreaterThan(r.weightBytes);
    const table = benchTables([r], 10);
    expect(table).toMatch(/^config\s+part\s+layers×d\s+B×T\s+loss rows\s+tokens\/s/);
    expect(table).toContain('head share of time');
    expect(table).toMatch(/transposed copies\s+transient packs\s+weights MiB\s+copies MiB\s+peak tensors MiB\s+wasm heap MiB/);
  });

  it('a half-prompt server case: the head FLOPs count the loss rows only, and copies can be switched off', async () => {
    const cfg = { vocabSize: 500, nPositions: 16, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
    const half = { name: 'toy-server', cfg, batch: 2, seqLen: 8, promptFraction: 0.5, serverCut: 1 };
    const off = await benchConfig(half, 0, 1, 10, { transposedCopies: false });
    expect(off.lossRows).toBe(8);
    expect(off.part).toBe('server@1');
    expect(off.layers).toBe(1);
    expect(off.transposedCopies).toBe(false);
    expect(off.copyBytes).toBe(0);
    const on = await benchConfig(half, 0, 1, 10, { transposedCopies: true });
    expect(on.copyBytes).toBeGreaterThan(0);
    // Same shapes, so the same FLOP count; all 16 loss rows would add 8 rows × 2·d·V ×2 to it.
    expect(on.stepGflop).toBeCloseTo(off.stepGflop, 12);
    const all = await benchConfig({ ...half, promptFraction: 0 }, 0, 1, 10, { transposedCopies: false });
    expect((all.stepGflop - off.stepGflop) * 1e9).toBeCloseTo(8 * 4 * 16 * 500, 3);
  });
});

// The U-shaped split's cost in the latency model, against figures worked out by hand: the head
// moves to the client, the server recomputes its blocks' forward, a step has two round trips and
// carries two tensors each way, with no targets or mask.
import { describe, expect, it } from 'vitest';
import { PRESETS, type GPT2Config } from '@splitlora/model';
import { messageSizes, stepFlops } from '../cost-model';
import { latencyParams, modelledTime, type MethodWork } from './latency';

describe('U-shaped split (labels "client") costs', () => {
  // As latency.test.ts: d = 4, 2 blocks, V = 10, r = 1 on q, B = 1, T = 2. One block: forward 864,
  // backward 960; head 2·N·d·V = 160 each way.
  const cfg: GPT2Config = { vocabSize: 10, nPositions: 8, nEmbd: 4, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
  const lora = { r: 1, alpha: 1, dropout: 0, targets: ['q' as const] };

  it('FLOPs: the client adds the head both ways; the server runs its block forward twice and no head', () => {
    expect(stepFlops('split', cfg, lora, 1, 1, 2, 'client')).toEqual({ client: 2 * 864 + 960 + 160 + 160, server: 2 * 864 + 960 });
    // Nothing is lost but the two recomputed forwards, on GPT-2 S at cut 3.
    const l = { r: 4, alpha: 32, dropout: 0.1, targets: ['q' as const, 'v' as const] };
    const u = stepFlops('split', PRESETS.gpt2, l, 3, 8, 128, 'client');
    const s = stepFlops('split', PRESETS.gpt2, l, 3, 8, 128);
    const head = 4 * 8 * 128 * 768 * 50257;
    expect(u.client - s.client).toBe(head);
    expect(u.client + u.server - (s.client + s.server)).toBeGreaterThan(0); // the server's recompute
    expect(u.client / s.client).toBeGreaterThan(1.3); // the tied head is big next to 3 blocks
  });

  it('bytes: two tensors up and two down per step, no targets or mask', () => {
    const c = PRESETS.nano; // d = 48
    const l = { r: 4, alpha: 32, dropout: 0.1, targets: ['q' as const, 'v' as const] };
    for (const [wire, bytes] of [['f32', 4], ['f16', 2]] as const) {
      const m = messageSizes('split', c, l, 1, 8, 50, wire, 'client');
      const payload = 8 * 50 * 48 * bytes;
      expect(m.stepUp).toBeGreaterThan(2 * payload);
      expect(m.stepUp).toBeLessThan(2 * payload + 600); // would be ≥ 2·payload + 3200 with targets and mask
      expect(m.stepDown).toBeGreaterThan(2 * payload);
      expect(m.stepDown).toBeLessThan(2 * payload + 600);
      expect(m.aggUp).toBe(messageSizes('split', c, l, 1, 8, 50, wire).aggUp); // adapters are the same
    }
  });

  it('time: the second round trip costs one more RTT', () => {
    const p = latencyParams({ clientTflops: 1, serverTflops: 40, centralTflops: 2, uplinkMbps: 20, downlinkMbps: 100, rttMs: 50 });
    const w: MethodWork = { method: 'split', clients: 3, steps: 20, interval: 5, clientStepFlops: 2e9, serverStepFlops: 8e9, stepUpBytes: 250_000, stepDownBytes: 125_000, aggUpBytes: 40_000, aggDownBytes: 40_000 };
    const one = modelledTime(w, p);
    const two = modelledTime({ ...w, stepRoundTrips: 2 }, p);
    expect(two.commSeconds - one.commSeconds).toBeCloseTo(0.05, 12);
    expect(two.totalSeconds - one.totalSeconds).toBeCloseTo(20 * 0.05, 12);
  });
});

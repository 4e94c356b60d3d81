import { describe, expect, it } from 'vitest';
import { activationBytes, maxMessageBytes } from './limits';
import { Encoder, PacketType } from './parser';

describe('maxMessageBytes', () => {
  it('matches the hand calculation for GPT-2 S activations (B=8, T=128, d=768)', () => {
    // acts 8·128·768·4 = 3,145,728; targets and mask 8·128·4 = 4,096 each → 3,153,920.
    expect(activationBytes(8, 128, 768)).toBe(3_153_920);
    // ceil(3,153,920 · 1.25) + 65,536
    expect(maxMessageBytes({ batch: 8, seqLen: 128, dModel: 768, adapterParams: 147_456 })).toBe(3_942_400 + 65_536);
  });

  it('is sized by the adapter upload (adapter + AdamW m and v) when that is larger', () => {
    const limit = maxMessageBytes({ batch: 1, seqLen: 8, dModel: 64, adapterParams: 1_000_000, adapterTensors: 48 });
    expect(limit).toBe(Math.ceil(3 * (4_000_000 + 48 * 128) * 1.25) + 65_536);
  });

  it('scales by 4/3 for base64 long-polling and validates its input', () => {
    const ws = maxMessageBytes({ batch: 8, seqLen: 128, dModel: 768, adapterParams: 0 });
    const polling = maxMessageBytes({ batch: 8, seqLen: 128, dModel: 768, adapterParams: 0, polling: true });
    expect(polling - 65_536).toBeCloseTo(((ws - 65_536) * 4) / 3, -1);
    expect(() => maxMessageBytes({ batch: -1, seqLen: 1, dModel: 1, adapterParams: 0 })).toThrow(/batch/);
    expect(() => maxMessageBytes({ batch: 1, seqLen: 1, dModel: 1, adapterParams: 0, margin: 0.5 })).toThrow(/margin/);
  });

  it('admits a real encoded activations message and is above socket.io’s 1 MB default', () => {
    const [B, T, d] = [8, 128, 768];
    const msg = {
      v: 1,
      runId: 'run-000000000000',
      step: 123456,
      round: 99,
      batch: B,
      seqLen: T,
      acts: { fmt: 'f32', shape: [B, T, d], data: new Float32Array(B * T * d) },
      targets: new Int32Array(B * T),
      mask: new Float32Array(B * T),
    };
    const bytes = new Encoder().encode({ type: PacketType.EVENT, nsp: '/', id: 7, data: ['activations', msg] })[0].byteLength;
    const limit = maxMessageBytes({ batch: B, seqLen: T, dModel: d, adapterParams: 0 });
    expect(bytes).toBeGreaterThan(1e6);
    expect(bytes).toBeLessThan(limit);
    // The margin is real headroom, not a rounding error.
    expect(limit - bytes).toBeGreaterThan(0.2 * bytes);
  });
});

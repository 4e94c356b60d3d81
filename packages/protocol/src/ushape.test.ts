// The U-shaped split's messages (front, top, top-gradient, front-gradient): closed schemas that
// have no room for targets, a mask or a loss, and the tensor checks the server runs on them.
import { describe, expect, it } from 'vitest';
import { checkFront, checkTopGradient } from './checks';
import { ProtocolError } from './errors';
import { PROTOCOL_VERSION, validate } from './messages';
import { encodeTensor } from './wire';

const B = 2, T = 3, d = 4;
const tensor = (fill: number, shape = [B, T, d], fmt: 'f32' | 'f16' | 'int8' = 'f32') => encodeTensor({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) }, fmt);
const front = (over: Record<string, unknown> = {}) => ({ v: PROTOCOL_VERSION, runId: 'run-1', step: 0, round: 0, batch: B, seqLen: T, acts: tensor(0.5), ...over });
const topGrad = (over: Record<string, unknown> = {}) => ({ v: PROTOCOL_VERSION, runId: 'run-1', step: 0, grad: tensor(1e-3), ...over });
const code = (f: () => void) => {
  try { f(); } catch (e) { return (e as ProtocolError).code; }
  return null;
};
const lim = { dModel: d, maxBatch: 4, maxSeqLen: 8 };

describe('U-shaped messages', () => {
  it('have no field for targets, a mask or a loss, in either direction', () => {
    expect(code(() => validate('front', front()))).toBeNull();
    for (const extra of [{ targets: new Int32Array(B * T) }, { mask: new Float32Array(B * T) }, { loss: 1 }]) {
      expect(code(() => validate('front', front(extra)))).toBe('E_SCHEMA');
      expect(code(() => validate('top-gradient', topGrad(extra)))).toBe('E_SCHEMA');
    }
    expect(code(() => validate('front-gradient', { v: PROTOCOL_VERSION, runId: 'run-1', step: 0, grad: tensor(1), loss: 2 }))).toBe('E_SCHEMA');
    expect(code(() => validate('top', { v: PROTOCOL_VERSION, runId: 'run-1', step: 0, top: tensor(1) }))).toBeNull();
  });

  it('front: size, shape and finiteness, as activations', () => {
    expect(code(() => checkFront(front() as never, lim))).toBeNull();
    expect(code(() => checkFront(front({ batch: 5 }) as never, lim))).toBe('E_TOO_LARGE');
    expect(code(() => checkFront(front({ acts: tensor(0.5, [B, T, d + 1]) }) as never, lim))).toBe('E_SHAPE');
    expect(code(() => checkFront(front({ acts: tensor(Number.NaN) }) as never, lim))).toBe('E_NONFINITE');
    expect(code(() => checkFront(front({ acts: tensor(1e6, [B, T, d], 'f16') }) as never, lim))).toBe('E_NONFINITE'); // f16 Inf
  });

  it('top-gradient: exactly the shape of its top, and finite', () => {
    expect(code(() => checkTopGradient(topGrad() as never, [B, T, d]))).toBeNull();
    expect(code(() => checkTopGradient(topGrad() as never, [B, T + 1, d]))).toBe('E_SHAPE');
    expect(code(() => checkTopGradient(topGrad({ grad: tensor(Number.POSITIVE_INFINITY) }) as never, [B, T, d]))).toBe('E_NONFINITE');
    const int8 = tensor(1e-3, [B, T, d], 'int8') as { scale: Float32Array };
    int8.scale[0] = -1;
    expect(code(() => checkTopGradient(topGrad({ grad: int8 }) as never, [B, T, d]))).toBe('E_RANGE');
  });
});

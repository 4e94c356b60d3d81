import { describe, expect, it } from 'vitest';
import {
  assertFinite,
  assertWireFinite,
  decodeTensor,
  encodeTensor,
  wireBytes,
  type WireFormat,
  type WireTensor,
} from './wire';
import { codeOf } from '../../../test/kit/protocol';

// Deterministic pseudo-random values in [0, 1) (a sine hash), so failures reproduce.
function rng(seed: number): () => number {
  let i = 0;
  return () => {
    const x = Math.sin(seed * 12.9898 + ++i * 78.233) * 43758.5453;
    return x - Math.floor(x);
  };
}

function randomTensor(shape: number[], seed: number, spread = 4): { shape: number[]; data: Float32Array } {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (r() * 2 - 1) * spread * 10 ** Math.floor(r() * 3 - 1);
  return { shape, data };
}


// The float16 conversion itself is tested in packages/tensor/src/float16.test.ts.
describe('encodeTensor / decodeTensor', () => {
  const shape = [2, 5, 48];

  it('f32 is exact, 4 bytes per element', () => {
    const t = randomTensor(shape, 1);
    const w = encodeTensor(t, 'f32');
    expect(w.data.byteLength).toBe(4 * t.data.length);
    expect(decodeTensor(w)).toEqual(t);
  });

  it('f16 has relative error ≤ 2^-11 in the normal range, 2 bytes per element', () => {
    const t = randomTensor(shape, 2);
    const w = encodeTensor(t, 'f16');
    expect(w.data).toBeInstanceOf(Uint16Array);
    expect(w.data.byteLength).toBe(2 * t.data.length);
    const back = decodeTensor(w);
    expect(back.shape).toEqual(shape);
    let checked = 0;
    for (let i = 0; i < t.data.length; i++) {
      const x = t.data[i];
      if (Math.abs(x) < 2 ** -14) continue;
      expect(Math.abs(back.data[i] - x) / Math.abs(x)).toBeLessThanOrEqual(2 ** -11);
      checked++;
    }
    expect(checked).toBeGreaterThan(t.data.length * 0.9);
  });

  it('f16 refuses values beyond its range instead of sending Infinity', () => {
    const t = { shape: [3], data: new Float32Array([1, 70000, 2]) };
    expect(codeOf(() => encodeTensor(t, 'f16'))).toBe('E_NONFINITE');
  });

  it('int8 error is ≤ scale/2 per element with one scale per row, 1 byte per element', () => {
    const t = randomTensor(shape, 3);
    t.data.fill(0, 48, 96); // an all-zero row
    const w = encodeTensor(t, 'int8');
    if (w.fmt !== 'int8') throw new Error('unreachable');
    expect(w.data).toBeInstanceOf(Int8Array);
    expect(w.data.byteLength).toBe(t.data.length);
    expect(w.scale).toHaveLength(10);
    expect(w.scale[1]).toBe(0);
    const back = decodeTensor(w);
    for (let i = 0; i < t.data.length; i++) {
      const s = w.scale[Math.floor(i / 48)];
      expect(Math.abs(back.data[i] - t.data[i])).toBeLessThanOrEqual((s / 2) * (1 + 1e-6));
    }
    for (let r = 0; r < 10; r++) {
      let max = 0;
      for (let j = 0; j < 48; j++) max = Math.max(max, Math.abs(t.data[r * 48 + j]));
      expect(w.scale[r]).toBeCloseTo(max / 127, 6);
    }
    expect(Array.from(back.data.subarray(48, 96)).every((v) => v === 0)).toBe(true);
  });

  it('wireBytes matches the encoded payload size', () => {
    const t = randomTensor(shape, 4);
    for (const fmt of ['f32', 'f16', 'int8'] as WireFormat[]) {
      const w = encodeTensor(t, fmt);
      const bytes = w.data.byteLength + (w.fmt === 'int8' ? w.scale.byteLength : 0);
      expect(wireBytes(shape, fmt), fmt).toBe(bytes);
    }
    expect(wireBytes([8, 128, 768], 'int8') / (8 * 128 * 768)).toBeCloseTo(1 + 4 / 768, 9);
  });

  it('rejects inconsistent wire tensors', () => {
    const good = encodeTensor(randomTensor([2, 3], 5), 'int8') as Extract<WireTensor, { fmt: 'int8' }>;
    expect(codeOf(() => decodeTensor({ ...good, shape: [2, 4] }))).toBe('E_SHAPE');
    expect(codeOf(() => decodeTensor({ ...good, shape: [2, -3] }))).toBe('E_SHAPE');
    expect(codeOf(() => decodeTensor({ ...good, scale: new Float32Array(1) }))).toBe('E_SHAPE');
    expect(codeOf(() => decodeTensor({ fmt: 'f32', shape: [2], data: new Uint16Array(2) } as unknown as WireTensor))).toBe(
      'E_SCHEMA',
    );
    expect(codeOf(() => decodeTensor({ fmt: 'bf16', shape: [2], data: new Uint16Array(2) } as unknown as WireTensor))).toBe(
      'E_SCHEMA',
    );
    expect(codeOf(() => encodeTensor({ shape: [3], data: new Float32Array(2) }, 'f32'))).toBe('E_SHAPE');
  });
});

describe('finiteness', () => {
  it('assertFinite names the first bad element', () => {
    expect(() => assertFinite('x', new Float32Array([1, 2, 3]))).not.toThrow();
    expect(() => assertFinite('x', new Float32Array([1, NaN, 3]))).toThrow(/x\[1\] is NaN/);
    expect(() => assertFinite('x', new Float32Array([1, 2, -Infinity]))).toThrow(/x\[2\] is -Infinity/);
    expect(codeOf(() => assertFinite('x', [Infinity]))).toBe('E_NONFINITE');
  });

  it('assertWireFinite checks f16 bits and int8 scales without decoding', () => {
    const h = encodeTensor({ shape: [2], data: new Float32Array([1, 2]) }, 'f16');
    expect(() => assertWireFinite('a', h)).not.toThrow();
    (h.data as Uint16Array)[1] = 0x7c00;
    expect(codeOf(() => assertWireFinite('a', h))).toBe('E_NONFINITE');
    const q = encodeTensor({ shape: [1, 2], data: new Float32Array([1, NaN]) }, 'int8');
    expect(codeOf(() => assertWireFinite('a', q))).toBe('E_NONFINITE');
  });
});

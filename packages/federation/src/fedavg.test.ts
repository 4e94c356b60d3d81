import { describe, expect, it } from 'vitest';
import { AggregationError, fedAvg, type TensorRecord } from './fedavg';

const t = (shape: number[], values: number[]) => ({ shape, data: new Float32Array(values) });

describe('fedAvg', () => {
  it('matches a hand calculation of the example-weighted mean', () => {
    const out = fedAvg([
      { examples: 1, tensors: { a: t([2, 2], [1, 2, 3, 4]), b: t([1, 2], [0, 10]) } },
      { examples: 3, tensors: { a: t([2, 2], [5, 6, 7, 8]), b: t([1, 2], [2, 2]) } },
    ]);
    // a: (1·[1,2,3,4] + 3·[5,6,7,8]) / 4 = [4, 5, 6, 7]
    // b: (1·[0,10] + 3·[2,2]) / 4 = [1.5, 4]
    expect(Object.keys(out).sort()).toEqual(['a', 'b']);
    expect(out.a.shape).toEqual([2, 2]);
    expect(Array.from(out.a.data)).toEqual([4, 5, 6, 7]);
    expect(out.b.shape).toEqual([1, 2]);
    expect(Array.from(out.b.data)).toEqual([1.5, 4]);
    expect(out.a.data).toBeInstanceOf(Float32Array);
  });

  it('gives the plain mean when weights are equal', () => {
    const clients = [0, 1, 2].map((k) => ({
      examples: 5,
      tensors: { w: t([3, 4], Array.from({ length: 12 }, (_, i) => Math.sin(i * 7 + k * 13) * 2)) },
    }));
    const out = fedAvg(clients);
    for (let i = 0; i < 12; i++) {
      const mean = (clients[0].tensors.w.data[i] + clients[1].tensors.w.data[i] + clients[2].tensors.w.data[i]) / 3;
      expect(out.w.data[i]).toBeCloseTo(mean, 6);
    }
  });

  it('accumulates in float64 (a float32 running sum would lose the 1)', () => {
    const out = fedAvg([
      { examples: 1, tensors: { x: t([1], [1]) } },
      { examples: 1, tensors: { x: t([1], [2 ** 24]) } },
      { examples: 1, tensors: { x: t([1], [-(2 ** 24)]) } },
    ]);
    expect(out.x.data[0]).toBe(Math.fround(1 / 3));
  });

  it('ignores zero-weight clients and never aliases its inputs', () => {
    const input: TensorRecord = { x: t([2], [1, 2]) };
    const out = fedAvg([
      { examples: 2, tensors: input },
      { examples: 0, tensors: { x: t([2], [100, 100]) } },
    ]);
    expect(Array.from(out.x.data)).toEqual([1, 2]);
    expect(out.x.data).not.toBe(input.x.data);
    input.x.data[0] = 9;
    expect(out.x.data[0]).toBe(1);
  });

  it('throws on empty input, zero or invalid weights', () => {
    expect(() => fedAvg([])).toThrow(/no updates/);
    expect(() => fedAvg([{ examples: 0, tensors: { x: t([1], [1]) } }])).toThrow(/total example count is 0/);
    expect(() => fedAvg([{ examples: -1, tensors: { x: t([1], [1]) } }])).toThrow(/client 0 has example count -1/);
    expect(() => fedAvg([{ examples: NaN, tensors: { x: t([1], [1]) } }])).toThrow(AggregationError);
  });

  it('throws naming the tensor and client on mismatched names or shapes', () => {
    const good = { examples: 1, tensors: { a: t([2], [1, 2]), b: t([1], [3]) } };
    expect(() => fedAvg([good, { examples: 1, tensors: { a: t([2], [1, 2]) } }])).toThrow(/client 1 lacks "b"/);
    expect(() => fedAvg([good, { examples: 1, tensors: { ...good.tensors, c: t([1], [0]) } }])).toThrow(
      /client 1 has extra "c"/,
    );
    expect(() => fedAvg([good, good, { examples: 1, tensors: { a: t([1, 2], [1, 2]), b: t([1], [3]) } }])).toThrow(
      /"a" of client 2 has shape \[1, 2\], client 0 has \[2\]/,
    );
    expect(() => fedAvg([good, { examples: 1, tensors: { a: t([2], [1, 2, 3]), b: t([1], [3]) } }])).toThrow(
      /"a" of client 1 has 3 values/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { TensorError } from './errors';
import type { TensorRecord } from './host-tensor';
import { weightedMean } from './weighted-mean';

const t = (shape: number[], values: number[]) => ({ shape, data: new Float32Array(values) });

function expectError(fn: () => unknown, code: string, ...fragments: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(TensorError);
  expect((caught as TensorError).code).toBe(code);
  for (const f of fragments) expect((caught as Error).message).toContain(f);
}

describe('weightedMean', () => {
  it('matches a hand calculation', () => {
    const out = weightedMean(
      [
        { a: t([2, 2], [1, 2, 3, 4]), b: t([2], [0, 10]) },
        { a: t([2, 2], [5, 6, 7, 8]), b: t([2], [2, 2]) },
      ],
      [1, 3],
    );
    // a: (1·[1,2,3,4] + 3·[5,6,7,8]) / 4 = [4, 5, 6, 7];  b: (1·[0,10] + 3·[2,2]) / 4 = [1.5, 4]
    expect(out.a.shape).toEqual([2, 2]);
    expect(Array.from(out.a.data)).toEqual([4, 5, 6, 7]);
    expect(Array.from(out.b.data)).toEqual([1.5, 4]);
    expect(out.a.data).toBeInstanceOf(Float32Array);
  });

  it('keys the result by the sorted union of names, whatever the record order', () => {
    const out = weightedMean([{ z: t([1], [1]), a: t([1], [1]) }, { m: t([1], [1]) }], [1, 1]);
    expect(Object.keys(out)).toEqual(['a', 'm', 'z']);
  });

  it('counts a tensor a record lacks as zeros', () => {
    const out = weightedMean([{ m: t([2], [2, 4]) }, {}], [1, 3]);
    expect(Array.from(out.m.data)).toEqual([0.5, 1]); // (1·[2,4] + 3·[0,0]) / 4
  });

  it('sums in float64 and rounds once (a float32 running sum would lose the 1)', () => {
    const out = weightedMean([{ x: t([1], [1]) }, { x: t([1], [2 ** 24]) }, { x: t([1], [-(2 ** 24)]) }], [1, 1, 1]);
    expect(out.x.data[0]).toBe(Math.fround(1 / 3));
  });

  it('skips zero-weight records, NaN and all, and never aliases its inputs', () => {
    const input: TensorRecord = { x: t([2], [1, 2]) };
    const out = weightedMean([input, { x: t([2], [NaN, 100]) }], [2, 0]);
    expect(Array.from(out.x.data)).toEqual([1, 2]);
    expect(out.x.data).not.toBe(input.x.data);
    expect(out.x.shape).not.toBe(input.x.shape);
    input.x.data[0] = 9;
    expect(out.x.data[0]).toBe(1);
  });

  it('refuses records that disagree on a shape, naming the tensor and records', () => {
    expectError(() => weightedMean([{ w: t([2], [1, 2]) }, { w: t([1, 2], [1, 2]) }], [1, 1], { what: 'test' }), 'SHAPE_MISMATCH', 'test:', '"w" of record 1', '[1, 2]', 'record 0 has shape [2]');
    expectError(() => weightedMean([{ w: t([2], [1, 2]) }, { w: t([2], [1, 2, 3]) }], [1, 1]), 'SHAPE_MISMATCH', '3 values');
  });

  it('refuses bad weights', () => {
    expectError(() => weightedMean([], []), 'BAD_WEIGHTS', 'no records');
    expectError(() => weightedMean([{}], [1, 2]), 'BAD_WEIGHTS', '1 records but 2 weights');
    expectError(() => weightedMean([{}, {}], [1, -1]), 'BAD_WEIGHTS', 'record 1 has weight -1');
    expectError(() => weightedMean([{}], [NaN]), 'BAD_WEIGHTS', 'weight NaN');
    expectError(() => weightedMean([{}, {}], [0, 0]), 'BAD_WEIGHTS', 'sum to 0');
  });
});

import { describe, expect, it } from 'vitest';
import { fedAvg } from './fedavg';
import { coordinateMedian, trimmedMean } from './robust';
import { RobustStrategy } from './strategy';

const rec = (...v: number[]) => ({ w: { shape: [v.length], data: Float32Array.from(v) } });

describe('robust aggregation', () => {
  it('trimmed mean drops k values from each end per coordinate; median is the middle', () => {
    const ups = [rec(1, 10), rec(2, 40), rec(3, 20), rec(4, 30), rec(100, -50)].map((tensors) => ({ tensors }));
    expect(Array.from(trimmedMean(ups, 0).w.data)).toEqual([22, 10]); // the plain mean
    expect(Array.from(trimmedMean(ups, 1).w.data)).toEqual([3, 20]); // (2+3+4)/3, (10+20+30)/3
    expect(Array.from(coordinateMedian(ups).w.data)).toEqual([3, 20]);
    expect(Array.from(coordinateMedian(ups.slice(0, 4)).w.data)).toEqual([2.5, 25]); // mean of the middle two
    expect(() => trimmedMean(ups, 3)).toThrow(/cannot drop 3/);
    expect(() => trimmedMean([{ tensors: rec(1) }, { tensors: rec(1, 2) }], 0)).toThrow(/shape/);
  });

  it('one lying client moves FedAvg as far as it likes, but not the median or the trimmed mean', () => {
    const honest = [0.9, 1.0, 1.1, 1.05].map((x) => ({ tensors: rec(x, -x), examples: 10 }));
    // Large values (still under the protocol's norm bound) and a claimed shard of 10,000.
    const liar = { tensors: rec(300, 300), examples: 10_000 };
    const all = [...honest, liar];
    expect(fedAvg(all).w.data[0]).toBeGreaterThan(250);
    for (const out of [coordinateMedian(all), trimmedMean(all, 1)]) {
      for (const [i, want] of [[0, 1], [1, -1]] as const) expect(Math.abs(out.w.data[i] - want)).toBeLessThan(0.1);
    }
  });

  it('RobustStrategy keeps the round rules (minResults, participants) and swaps the rule', () => {
    const results = [1, 2, 3, 50].map((x, j) => ({ clientId: `c${j}`, examples: 1, tensors: rec(x) }));
    const median = new RobustStrategy({ rule: 'median' }).aggregate(0, results, []);
    expect(median.participants).toEqual(['c0', 'c1', 'c2', 'c3']);
    expect(Array.from(median.tensors!.w.data)).toEqual([2.5]);
    const trimmed = new RobustStrategy({ rule: 'trimmed-mean', trim: 0.25 }).aggregate(0, results, []);
    expect(Array.from(trimmed.tensors!.w.data)).toEqual([2.5]);
    expect(new RobustStrategy({ rule: 'median', minResults: 5 }).aggregate(0, results, []).tensors).toBeNull();
    expect(() => new RobustStrategy({ rule: 'trimmed-mean', trim: 0.5 })).toThrow(/trim/);
  });
});

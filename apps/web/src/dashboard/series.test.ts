import { describe, expect, it } from 'vitest';
import type { Metric } from './api';
import { heldoutSeries, lossSeries, throughputSeries, trailingMean } from './series';

const step = (globalStep: number, at: number, loss: number, tokens = 100): Metric => ({ kind: 'step', at, globalStep, loss, tokens });

describe('lossSeries', () => {
  it('orders steps by global step and adds a trailing mean', () => {
    const [xs, raw, mean] = lossSeries([step(3, 30, 1), step(1, 10, 3), step(2, 20, 2), { kind: 'round', at: 25, round: 0 }], 2);
    expect(xs).toEqual([1, 2, 3]);
    expect(raw).toEqual([3, 2, 1]);
    expect(mean).toEqual([3, 2.5, 1.5]);
  });
});

describe('heldoutSeries', () => {
  it('keeps eval points with a held-out loss, by global step', () => {
    const [xs, ys] = heldoutSeries([{ kind: 'eval', at: 5, globalStep: 8, heldoutLoss: 2.5 }, { kind: 'eval', at: 1, globalStep: 4, heldoutLoss: 3 }, { kind: 'eval', at: 2 }]);
    expect(xs).toEqual([4, 8]);
    expect(ys).toEqual([3, 2.5]);
  });
});

describe('throughputSeries', () => {
  it('is empty without steps', () => {
    expect(throughputSeries([])).toEqual([[], [], []]);
  });

  it('gives tokens per second over a trailing window', () => {
    // 100 tokens every second for 30 s: 100 tokens/s once the 10 s window is full.
    const ms = Array.from({ length: 31 }, (_, i) => step(i + 1, 1_000_000 + i * 1000, 1));
    const [xs, raw, ys] = throughputSeries(ms);
    expect(xs[0]).toBe(1001);
    expect(xs.at(-1)).toBe(1030);
    expect(raw.slice(1)).toEqual(Array(29).fill(100)); // one step per 1 s cell
    expect(ys.at(-1)).toBeCloseTo(100, 6);
    expect(ys[15]).toBeCloseTo(100, 6);
    // Early on it divides by the time that has passed, not by the whole window.
    expect(ys[0]).toBeCloseTo(200, 6); // the first two steps within the first second
  });

  it("prefers the server's own throughput samples", () => {
    const ms: Metric[] = [step(1, 500, 1, 999), { kind: 'throughput', at: 4000, tokensPerSec: 50 }, { kind: 'throughput', at: 2000, tokensPerSec: 40 }];
    expect(throughputSeries(ms)).toEqual([[2, 4], [40, 50], [40, 45]]);
  });

  it('does not drop to zero between bursty steps', () => {
    // One 800-token batch every 4 s.
    const ms = Array.from({ length: 10 }, (_, i) => step(i + 1, i * 4000, 1, 800));
    const [, raw, smooth] = throughputSeries(ms) as number[][];
    expect(Math.min(...raw)).toBe(0); // the raw cells do...
    expect(Math.min(...smooth.slice(10))).toBeGreaterThan(150); // ...the smoothed line does not
    expect(Math.max(...smooth.slice(10))).toBeLessThanOrEqual(240); // 800 tokens per 4 s: 2 or 3 batches per 10 s
  });
});

describe('trailingMean', () => {
  it('averages over a trailing window of x', () => {
    expect(trailingMean([0, 1, 2, 3, 10], [1, 2, 3, 4, 5], 2.5)).toEqual([1, 1.5, 2, 3, 5]);
  });
});

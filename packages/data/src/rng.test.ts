import { describe, expect, it } from 'vitest';
import { makeRng, mixSeed, permutation, sampleDirichlet, sampleGamma } from './rng';

describe('seeded randomness', () => {
  it('repeats for a seed and stays in [0, 1)', () => {
    const a = makeRng(5);
    const xs = Array.from({ length: 1000 }, a);
    expect(Array.from({ length: 1000 }, makeRng(5))).toEqual(xs);
    expect(Array.from({ length: 1000 }, makeRng(6))).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(0.5, 1);
  });

  it('mixes seeds so nearby inputs give unrelated outputs', () => {
    expect(mixSeed(1, 0)).not.toBe(mixSeed(1, 1));
    expect(mixSeed(1, 0)).not.toBe(mixSeed(0, 1));
    expect(mixSeed(1, 0)).toBe(mixSeed(1, 0));
  });

  it('permutes', () => {
    expect(permutation(20, makeRng(1)).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('samples Gamma with mean = shape, and Dirichlet on the simplex', () => {
    for (const shape of [0.3, 1, 4]) {
      const rng = makeRng(11);
      const n = 20000;
      let sum = 0;
      for (let i = 0; i < n; i++) sum += sampleGamma(shape, rng);
      expect(sum / n).toBeCloseTo(shape, 1);
    }
    const p = sampleDirichlet(0.5, 6, makeRng(2));
    expect(p).toHaveLength(6);
    expect(p.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
    expect(p.every((x) => x >= 0)).toBe(true);
    expect(() => sampleGamma(0, makeRng(1))).toThrow('gamma shape must be > 0');
  });
});

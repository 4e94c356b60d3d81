import { describe, expect, it } from 'vitest';
import { fillNormal, hashString, sfc32 } from './prng';

describe('hashString (FNV-1a, 32 bit)', () => {
  it('matches the published FNV-1a values', () => {
    expect(hashString('')).toBe(0x811c9dc5); // the offset basis
    expect(hashString('a')).toBe(0xe40c292c);
  });
});

describe('sfc32', () => {
  it('gives the same stream for the same seed in every run (LoRA and weight init depend on it)', () => {
    const a = Array.from({ length: 4 }, sfc32(42));
    expect(a).toEqual([1028872839, 2516511472, 400437680, 853279530]);
    expect(Array.from({ length: 4 }, sfc32(42))).toEqual(a);
    expect(Array.from({ length: 4 }, sfc32(43))).not.toEqual(a);
  });

  it('draws uniform 32-bit integers', () => {
    const rand = sfc32(7);
    const n = 100_000;
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const x = rand();
      if (!Number.isInteger(x) || x < 0 || x >= 2 ** 32) outside++;
      sum += x / 2 ** 32;
    }
    expect(outside).toBe(0);
    expect(sum / n).toBeCloseTo(0.5, 2); // standard error 0.0009
  });
});

describe('fillNormal', () => {
  it('fills every slot, odd lengths included, with N(0, std²) samples', () => {
    const out = new Float32Array(100_001);
    fillNormal(out, 0.02, sfc32(1));
    let sum = 0;
    let sq = 0;
    for (const x of out) {
      sum += x;
      sq += x * x;
    }
    const mean = sum / out.length;
    expect(Math.abs(mean)).toBeLessThan(0.0003); // 5 standard errors of 0.02 / √100001
    expect(Math.sqrt(sq / out.length - mean * mean)).toBeCloseTo(0.02, 3);
    expect(out[out.length - 1]).not.toBe(0);
  });

  it('is deterministic for a seed', () => {
    const a = new Float32Array(5);
    const b = new Float32Array(5);
    fillNormal(a, 1, sfc32(1));
    fillNormal(b, 1, sfc32(1));
    expect(a).toEqual(b);
    expect(a[0]).toBeCloseTo(-0.35476, 5);
  });
});

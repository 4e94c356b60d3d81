import { describe, expect, it } from 'vitest';
import { lcsLength, rougeL, rougeLSegment, rougeLTokenized } from './rouge';

const F = (p: number, r: number): number => ((1 + 1.2 ** 2) * p * r) / (r + 1.2 ** 2 * p);

describe('lcsLength', () => {
  it('finds the longest common subsequence', () => {
    expect(lcsLength(['a', 'b', 'c', 'd'], ['a', 'c', 'd', 'b'])).toBe(3); // a c d
    expect(lcsLength([], ['a'])).toBe(0);
  });
});

describe('rougeLSegment', () => {
  it('is the LCS F-measure with beta 1.2', () => {
    // hyp "a b" vs ref "a b c d": LCS 2, P = 2/2, R = 2/4.
    expect(rougeLSegment('a b', ['a b c d'])).toBeCloseTo(F(1, 0.5), 12);
    expect(F(1, 0.5)).toBeCloseTo(1.22 / 1.94, 12);
  });

  it('maximises precision and recall over references separately', () => {
    // vs "a b": P = 2/3, R = 1; vs "a b c d e f": P = 1, R = 1/2. Best of each: P = 1, R = 1.
    expect(rougeLSegment('a b c', ['a b', 'a b c d e f'])).toBe(1);
  });

  it('is 0 for an empty hypothesis and 1 for an identical one', () => {
    expect(rougeLSegment('', ['a'])).toBe(0);
    expect(rougeLSegment('a b c', ['x', 'a b c'])).toBe(1);
  });
});

describe('rougeL', () => {
  it('averages segment scores', () => {
    expect(rougeLTokenized([['a b c d'], ['x']], ['a b', 'x'])).toBeCloseTo((F(1, 0.5) + 1) / 2, 12);
  });

  it('tokenises raw text as coco does (lowercase, punctuation dropped)', () => {
    expect(rougeL([['The cat sat.']], ['the cat, sat'])).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { cider, ciderSegments, ciderTokenized } from './cider';

describe('cider', () => {
  it('is 0 with a single segment, since every n-gram then has IDF log(1/1) = 0', () => {
    expect(ciderTokenized([['a b c']], ['a b c'])).toBe(0);
  });

  it('gives 5 for an exact two-word match: cosine 1 for 1- and 2-grams, 0 for 3- and 4-grams', () => {
    // Two segments, every n-gram in one segment's references: all weights are tf * ln 2.
    // Per segment: mean over n of (1, 1, 0, 0) = 0.5, times 10.
    expect(ciderSegments([['a b'], ['c d']], ['a b', 'c d'])).toEqual([5, 5]);
  });

  it('clips, normalises and applies the length penalty', () => {
    // Segment 1: hyp "a b" vs ref "a b x" (all weights ln 2):
    //   1-grams: (a, b) . (a, b, x) = 2 / (sqrt 2 * sqrt 3);  2-grams: 1 / (1 * sqrt 2);  3-, 4-grams: 0.
    //   "length" is the bigram count (1 vs 2): penalty exp(-(1 - 2)^2 / (2 * 6^2)) = exp(-1/72).
    // Segment 2: an exact two-word match, 5.
    const seg1 = (((2 / Math.sqrt(6) + 1 / Math.sqrt(2)) * Math.exp(-1 / 72)) / 4) * 10;
    expect(ciderTokenized([['a b x'], ['c d']], ['a b', 'c d'])).toBeCloseTo((seg1 + 5) / 2, 12);
  });

  it('averages over references', () => {
    // Segment 1 has the matching reference and one sharing nothing: (5 + 0) / 2.
    expect(ciderSegments([['a b', 'y z'], ['c d']], ['a b', 'c d'])[0]).toBeCloseTo(2.5, 12);
  });

  it('scores an empty hypothesis 0', () => {
    expect(ciderSegments([['a b'], ['c d']], ['', 'c d'])).toEqual([0, 5]);
  });

  it('tokenises raw text as coco does', () => {
    expect(cider([['The cat.'], ['Big, dog!']], ['the cat', 'big dog'])).toBe(5);
  });
});

import { describe, expect, it } from 'vitest';
import { addMeteorStats, emptyMeteorStats, meteor, meteorPairStats, meteorScore, meteorSegmentStats, meteorTokenized } from './meteor';
import { meteorNormalize } from './meteor-normalize';

describe('meteorNormalize', () => {
  // Expected lines are those of METEOR 1.5's Normalizer (English, punctuation kept).
  it('splits hyphens, clitics and symbols as METEOR -norm does', () => {
    expect(meteorNormalize("it 's a family-friendly place -lrb- near café rouge -rrb- is n't it prices # 20-25")).toBe(
      "it ' s a family friendly place -lrb- near café rouge -rrb- is n 't it prices # 20 25",
    );
    expect(meteorNormalize("non-family-friendly u.s. e.g. st. pp. 5 v. the 1,000 a,b 3'5 x--y")).toBe(
      "non family friendly us eg st. pp. 5 v. the 1,000 a , b 3 ' 5 x y",
    );
    expect(meteorNormalize('and/or “q” ‘x’ o\'clock 90\'s')).toBe('and / or " q " \' x \' o \'clock 90 \'s');
  });
});

describe('meteor', () => {
  it('scores an identical segment 1', () => {
    expect(meteorTokenized([['the cat sat on the mat']], ['the cat sat on the mat'])).toBe(1);
  });

  it('combines exact and stem matches, function-word weights and fragmentation', () => {
    // hyp "cats sat quickly" vs ref "the cat sat": sat = sat (exact, weight 1), cats ~ cat (stem, 0.6).
    // "the" is a function word (weight 1 - δ = 0.25), the rest are content words (δ = 0.75).
    // P = (0.75 + 0.6 * 0.75) / (3 * 0.75) = 1.2 / 2.25;  R = 1.2 / (2 * 0.75 + 0.25) = 1.2 / 1.75.
    // Fmean = 1 / (0.15 / P + 0.85 / R). One chunk over 2 matched words per side: frag = 1 / 2,
    // penalty 0.6 * 0.5^0.2.
    const p = 1.2 / 2.25;
    const r = 1.2 / 1.75;
    const expected = (1 / (0.15 / p + 0.85 / r)) * (1 - 0.6 * 0.5 ** 0.2);
    const stats = meteorSegmentStats('cats sat quickly', ['the cat sat']);
    expect(stats.testContentMatches).toEqual([1, 1, 0, 0]);
    expect(stats.refFunctionWords).toBe(1);
    expect(stats.chunks).toBe(1);
    expect(meteorScore(stats)).toBeCloseTo(expected, 12);
  });

  it('keeps the statistics of the best-scoring reference', () => {
    const best = meteorSegmentStats('a b c', ['x y', 'a b c', 'a b']);
    expect(meteorScore(best)).toBe(1);
    expect(best.refLength).toBe(3);
  });

  it('aggregates statistics over segments instead of averaging scores', () => {
    // Segment 1 is a perfect match (score 1). Segment 2, "c b a" vs "a b c", matches every word
    // but in 3 chunks: frag = 3 / 3 = 1, score 1 - 0.6 = 0.4. The mean would be 0.7; METEOR sums the
    // statistics (a perfect segment contributes no chunk): frag = 3 / 6, score 1 - 0.6 * 0.5^0.2.
    const s2 = meteorPairStats(['c', 'b', 'a'], ['a', 'b', 'c']);
    expect(s2.chunks).toBe(3);
    expect(meteorScore(s2)).toBeCloseTo(0.4, 12);
    const total = emptyMeteorStats();
    addMeteorStats(total, meteorPairStats(['a', 'b', 'c'], ['a', 'b', 'c']));
    addMeteorStats(total, s2);
    expect(total.chunks).toBe(3);
    const expected = 1 - 0.6 * 0.5 ** 0.2;
    expect(meteorScore(total)).toBeCloseTo(expected, 12);
    expect(meteorTokenized([['a b c'], ['a b c']], ['a b c', 'c b a'])).toBeCloseTo(expected, 12);
  });

  it('scores an empty hypothesis 0', () => {
    expect(meteorTokenized([['a b']], [''])).toBe(0);
  });

  it('tokenises raw text as coco does first', () => {
    expect(meteor([['The cat sat.']], ['the cat , sat'])).toBe(1);
  });
});

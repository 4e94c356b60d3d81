import { describe, expect, it } from 'vitest';
import { bleu } from './bleu';
import { mtevalTokenize } from './mteval-tokenize';

describe('mtevalTokenize', () => {
  // Expected tokens are those of e2e-metrics' Python tokenizer (NGramScore.tokenize).
  it('splits punctuation but keeps apostrophes, inner digits and word dashes', () => {
    expect(mtevalTokenize("It's £20-25, isn't it?")).toEqual(["It's", '£20', '-', '25', ',', "isn't", 'it', '?']);
    expect(mtevalTokenize('Prices: 3.5 or 1,000 (cheap).')).toEqual(['Prices', ':', '3.5', 'or', '1,000', '(', 'cheap', ')', '.']);
    expect(mtevalTokenize('x.y, 5-star')).toEqual(['x', '.', 'y', ',', '5', '-', 'star']);
    expect(mtevalTokenize('')).toEqual(['']);
  });
});

describe('bleu', () => {
  it('is 1 for a hypothesis equal to its reference, ignoring case and spacing of punctuation', () => {
    expect(bleu([['the cat , sat .']], ['The cat, sat.'])).toBe(1);
  });

  it('takes the geometric mean of clipped n-gram precisions', () => {
    // hyp "the cat sat on the mat today" (7 tokens) vs ref "the cat sat on the mat" (6):
    // every n-gram matches except those containing "today":
    // p1 = 6/7, p2 = 5/6, p3 = 4/5, p4 = 3/4; the product is 3/7. No brevity penalty (7 > 6).
    expect(bleu([['the cat sat on the mat']], ['the cat sat on the mat today'])).toBeCloseTo((3 / 7) ** 0.25, 12);
  });

  it('applies the brevity penalty exp(1 - r/c) when the hypothesis is shorter', () => {
    // All precisions are 1; c = 6 tokens, r = 7.
    expect(bleu([['the cat sat on the mat today']], ['the cat sat on the mat'])).toBeCloseTo(Math.exp(1 - 7 / 6), 12);
  });

  it('measures brevity against the closest reference, the shorter one on a tie', () => {
    // References of 5 and 7 tokens are both 1 away from the 6-token hypothesis; the scorer takes 5,
    // so there is no penalty. Every hypothesis n-gram occurs in the second reference.
    const refs = [['the cat sat on mat', 'the cat sat on the mat now']];
    expect(bleu(refs, ['the cat sat on the mat'])).toBe(1);
  });

  it('clips counts by the most any single reference has', () => {
    // hyp "the the the the": unigram hits min(4, 2) = 2 -> p1 = 2/4; "the the" is in no reference,
    // so p2..p4 fall to the 1e-15 floor: BLEU = (1/2 * 1e-15/3 * 1e-15/2 * 1e-15/1)^(1/4).
    // The closest reference has 4 tokens, like the hypothesis, so the brevity penalty is 1.
    const expected = ((0.5 * 1e-15 * 1e-15 * 1e-15) / 6) ** 0.25;
    expect(bleu([['the cat the', 'a the dog barks']], ['the the the the'])).toBeCloseTo(expected, 20);
  });

  it('stays defined (near 0) for an empty hypothesis', () => {
    const score = bleu([['a b']], ['']);
    expect(score).toBeGreaterThan(0);
    expect(score).toBeLessThan(1e-8);
  });

  it('sums statistics over the corpus rather than averaging sentence scores', () => {
    // Segment 1 matches fully (4 tokens); segment 2 ("x y z w" vs "a b c d") matches nothing.
    // Corpus p1 = 4/8, p2 = 3/6, p3 = 2/4, p4 = 1/2, so BLEU = 0.5, not the mean of 1 and ~0.
    expect(bleu([['a b c d'], ['a b c d']], ['a b c d', 'x y z w'])).toBeCloseTo(0.5, 12);
  });
});

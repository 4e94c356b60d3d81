import { describe, expect, it } from 'vitest';
import { nist } from './nist';

// mteval's length-penalty constant: the penalty is 0.5 at a length ratio of 2/3.
const BETA = -Math.log(0.5) / Math.log(1.5) ** 2;

describe('nist', () => {
  it('weights a matched unigram by log2(total reference words / its count)', () => {
    // hyp = ref = "a b c d e": each word occurs once in 5 reference words, so each unigram hit
    // is worth log2(5); the 1-gram term is 5 * log2(5) / 5 hypothesis unigrams. Every longer
    // n-gram occurs as often as its prefix, so it carries log2(1) = 0 information.
    expect(nist([['a b c d e']], ['a b c d e'])).toBeCloseTo(Math.log2(5), 12);
  });

  it('penalises a hypothesis shorter than the references', () => {
    // hyp "a b c d e" (5 words) vs ref "a b c d e f g h i j" (10): unigram term log2(10);
    // length ratio 0.5 -> penalty exp(-BETA * ln(0.5)^2).
    const expected = Math.log2(10) * Math.exp(-BETA * Math.log(0.5) ** 2);
    expect(nist([['a b c d e f g h i j']], ['a b c d e'])).toBeCloseTo(expected, 12);
  });

  it('takes information weights from the references of the whole corpus', () => {
    // Corpus references "a b c d e" and "a x y z w": 10 words, "a" twice, "b" once.
    // Segment 1 hits a, b, c, d, e: (log2(10/2) + 4 * log2(10)) / 5; bigram "a b": log2(count(a) / count(a b))
    // = log2(2), over 4 hypothesis bigrams; longer n-grams carry 0. Segment 2 ("q q q q q") hits nothing.
    // All orders divide by the summed hypothesis n-gram counts: 10 unigrams, 8 bigrams.
    const unigram = (Math.log2(5) + 4 * Math.log2(10)) / 10;
    const bigram = Math.log2(2) / 8;
    expect(nist([['a b c d e'], ['a x y z w']], ['a b c d e', 'q q q q q'])).toBeCloseTo(unigram + bigram, 12);
  });
});

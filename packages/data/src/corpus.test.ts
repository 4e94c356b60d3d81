import { describe, expect, it } from 'vitest';
import { CORPUS_VALUES, DEFAULT_CORPUS, restaurantCorpus, restaurantCorpusExamples } from './corpus';
import { syntheticE2E } from './synthetic';
import { EOS, encodeExamples, encodeText } from './tokenizer';

describe('restaurantCorpus', () => {
  const lines = restaurantCorpus({ n: 3000, seed: 11 });

  it('is seeded, one line per example, and the default held-out set is not in the training set', () => {
    expect(restaurantCorpus({ n: 3000, seed: 11 })).toEqual(lines);
    expect(restaurantCorpus({ n: 50, seed: 11 })).toEqual(lines.slice(0, 50));
    expect(restaurantCorpus({ n: 50, seed: 12 })).not.toEqual(lines.slice(0, 50));
    for (const l of lines) expect(l).not.toMatch(/\n|^\s|\s$/);
    expect(restaurantCorpusExamples({ n: 2, seed: 11 })).toEqual(lines.slice(0, 2).map((completion) => ({ context: '', completion })));
    const train = new Set(restaurantCorpus({ ...DEFAULT_CORPUS.train, n: 5000 }));
    const held = restaurantCorpus(DEFAULT_CORPUS.heldout);
    expect(held.filter((l) => train.has(l)).length).toBeLessThan(held.length / 20);
    expect(() => restaurantCorpus({ n: 1, tokenized: 2 })).toThrow(/tokenized must be in \[0, 1\]/);
  });

  it('is varied: many distinct lines, both spellings, fact cards, and extra facts', () => {
    expect(new Set(lines).size).toBeGreaterThan(lines.length * 0.99);
    const tokenized = lines.filter((l) => / \.$/.test(l)).length;
    expect(tokenized / lines.length).toBeGreaterThan(0.4);
    expect(tokenized / lines.length).toBeLessThan(0.6);
    const cards = lines.filter((l) => /^Facts ?:/.test(l)).length;
    expect(cards / lines.length).toBeGreaterThan(0.2);
    for (const dish of CORPUS_VALUES.dish.slice(0, 4)) expect(lines.some((l) => l.includes(dish.split(' ')[0]))).toBe(true);
  });

  it('states every fact of its fact card', () => {
    for (const l of lines.filter((x) => x.startsWith('Facts: ')).slice(0, 300)) {
      const [card, text] = [l.slice(7, l.indexOf('. ')), l.slice(l.indexOf('. ') + 2)];
      for (const fact of card.split('; ')) {
        const [key, ...rest] = fact.split(' ');
        const value = rest.join(' ');
        if (['name', 'food', 'area', 'near', 'dish', 'type'].includes(key)) expect(text, l).toContain(value);
      }
    }
  });

  it('shifts away from syntheticE2E (no MRs, none of its sentences) but shares its vocabulary', () => {
    const ft = syntheticE2E({ n: 600, seed: 3 });
    for (const l of lines) expect(l).not.toMatch(/\w : .* \| /);
    const corpus = new Set(lines);
    expect(ft.filter((e) => corpus.has(e.completion))).toEqual([]);
    const split = (text: string) => text.replace(/ \.$/, '').split(' . ');
    const sentences = new Set(lines.flatMap(split));
    // Short sentences ("It is family - friendly") may coincide; longer ones should not.
    const theirs = ft.flatMap((e) => split(e.completion)).filter((x) => x.split(' ').length > 6);
    const shared = theirs.filter((x) => sentences.has(x));
    expect(shared.length, shared.slice(0, 5).join(' / ')).toBeLessThan(theirs.length * 0.05);
    // A token pretraining never saw keeps a head row pushed down: LoRA on q and v cannot lift it.
    const seen = new Set(lines.flatMap((l) => encodeText(' ' + l).concat(encodeText(l))));
    const unseen = encodeExamples(ft).flatMap((e) => e.completion).filter((t) => t !== EOS && !seen.has(t));
    expect(unseen).toEqual([]);
  });
});

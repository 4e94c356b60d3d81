import { describe, expect, it } from 'vitest';
import { cocoTokenize, cocoTokenizeCorpus } from './coco-tokenize';
import { ptbLex } from './ptb-lexer';

// Expected outputs are those of Stanford CoreNLP 3.4.1's PTBTokenizer (-preserveLines
// -lowerCase, the jar coco-caption ships), followed by coco's punctuation filter.
describe('ptbLex', () => {
  it('splits clitics and punctuation the PTB way', () => {
    expect(ptbLex("It's a family-friendly place (near Café Rouge), isn't it? Prices £20-25.")).toEqual([
      'It', "'s", 'a', 'family-friendly', 'place', '-LRB-', 'near', 'Café', 'Rouge', '-RRB-', ',',
      'is', "n't", 'it', '?', 'Prices', '#', '20-25', '.',
    ]);
    expect(ptbLex('"Hi" ‘there’ cannot gonna...')).toEqual(['``', 'Hi', "''", '`', 'there', "'", 'can', 'not', 'gon', 'na', '...']);
  });
});

describe('cocoTokenize', () => {
  it('lowercases and drops pure-punctuation tokens, but keeps -lrb- and -rrb-', () => {
    expect(
      cocoTokenize([
        "It's a family-friendly place (near Café Rouge), isn't it? Prices £20-25.",
        'The cannot "quote" I. The end etc.',
        "And/or 5 1/2 St. John's ... --- wow!!",
        "Don't you think it’s ‘great’? We're near the Eagle's riverside-area.",
        'It costs £30+ and is rated 5 out of 5.',
      ]),
    ).toEqual([
      "it 's a family-friendly place -lrb- near café rouge -rrb- is n't it prices # 20-25",
      'the can not quote i the end etc.',
      "and/or 5\u00a01/2 st. john 's wow !!", // "5 1/2" is one token with a no-break space
      "do n't you think it 's great we 're near the eagle 's riverside-area",
      'it costs # 30 + and is rated 5 out of 5',
    ]);
  });

  it('looks across the line break, as the lexer reads all captions as one text', () => {
    // "I." before a line starting "The" ends a sentence ("i" + "."); before "the" it is an abbreviation.
    expect(cocoTokenize(['I saw I.', 'The end'])).toEqual(['i saw i', 'the end']);
    expect(cocoTokenize(['I saw I.', 'the end'])).toEqual(['i saw i.', 'the end']);
  });

  it('keeps one output per caption, empty ones and embedded line breaks included', () => {
    expect(cocoTokenize(['a\nb', '', '...', 'c'])).toEqual(['a b', '', '', 'c']);
    expect(cocoTokenize([])).toEqual([]);
  });

  it('keeps the reference grouping', () => {
    // A single letter with a period is an abbreviation token ("a."), unless a sentence starter follows.
    expect(cocoTokenizeCorpus([['A.', 'B!'], ['C?']], ['x.', 'y'])).toEqual({ refs: [['a.', 'b'], ['c']], hyps: ['x.', 'y'] });
  });
});

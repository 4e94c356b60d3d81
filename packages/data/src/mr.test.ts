import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { e2eTitle, findE2EFile } from './e2e-location';
import { parseE2EText } from './loaders';
import { MR_SLOTS, canonicalSlot, csvMrToLora, formatMr, mrOf, parseMr } from './mr';
import { tokenizeE2E } from './word-tokenize';

const VALID = findE2EFile('lora-format/valid.txt');

describe('MRs', () => {
  it('parses and formats lora-format MRs', () => {
    const mr = 'name : The Eagle | Type : coffee shop | price : £ 20 - 25 | family friendly : no';
    expect(parseMr(mr)).toEqual({ name: 'The Eagle', Type: 'coffee shop', price: '£ 20 - 25', 'family friendly': 'no' });
    expect(formatMr(parseMr(mr))).toBe(mr);
    expect(formatMr({ near: 'X', name: 'A', extra: 'e' })).toBe('name : A | near : X | extra : e');
    expect(mrOf({ context: 'Just a sentence.', completion: '' })).toEqual({});
  });

  it('resolves CSV and lora spellings of a slot, and rejects unknown ones', () => {
    expect(canonicalSlot('eatType')).toBe('Type');
    expect(canonicalSlot('Type')).toBe('Type');
    expect(canonicalSlot('priceRange')).toBe('price');
    expect(canonicalSlot('familyFriendly')).toBe('family friendly');
    expect(canonicalSlot('customer_rating')).toBe('customer rating');
    expect(() => canonicalSlot('cuisine')).toThrow('unknown MR attribute "cuisine"');
  });

  it('converts official CSV MRs', () => {
    expect(csvMrToLora('name[Aromi], eatType[pub], priceRange[less than £20], customer rating[5 out of 5]')).toBe(
      'name : Aromi | Type : pub | price : less than £ 20 | customer rating : 5 out of 5',
    );
    expect(csvMrToLora('name[A] area[x]')).toEqual({ problem: 'expected an MR like "name[X], eatType[Y]", found "name[A] area[x]"' });
    expect(csvMrToLora('')).toEqual({ problem: 'empty MR' });
  });

  it.skipIf(!VALID)(e2eTitle('round-trips every MR of valid.txt and uses exactly the eight slots', VALID), () => {
    const { examples } = parseE2EText(readFileSync(VALID!, 'utf8'), 'valid.txt');
    const keys = new Set<string>();
    for (const e of examples) {
      const slots = mrOf(e);
      Object.keys(slots).forEach((k) => keys.add(k));
      expect(formatMr(slots)).toBe(e.context);
    }
    expect([...keys].sort()).toEqual([...MR_SLOTS].sort());
  });
});

describe('tokenizeE2E', () => {
  it('splits punctuation like the lora-format files', () => {
    expect(tokenizeE2E("Aromi isn't family-friendly, it's £20-25.")).toBe("Aromi isn 't family - friendly , it 's £ 20 - 25 .");
    expect(tokenizeE2E("called 'Aromi' has  low ratings..")).toBe("called ' Aromi ' has low ratings ..");
    expect(tokenizeE2E('Café -friendly Cambridge- 1.5')).toBe('Café -friendly Cambridge- 1.5');
  });
});

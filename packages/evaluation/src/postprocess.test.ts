import { EOS, encodeText } from '@splitlora/data';
import { describe, expect, it } from 'vitest';
import { cleanReference, decodeGenerated, oneLine, postprocessE2E, pyStrip } from './postprocess';

const NN = 628; // "\n\n"

describe('postprocessE2E (gpt2_decode.py: split <|endoftext|>, split "\\n\\n", strip)', () => {
  it('cuts at the end token and drops what follows', () => {
    expect(postprocessE2E([...encodeText(' The Eagle is a pub .'), EOS, ...encodeText(' junk')])).toBe('The Eagle is a pub .');
    expect(postprocessE2E([EOS])).toBe('');
    expect(postprocessE2E([])).toBe('');
  });

  it('cuts at the first blank line, whether it is token 628 or two "\\n" tokens', () => {
    expect(postprocessE2E([...encodeText(' A pub .'), NN, ...encodeText('More text')])).toBe('A pub .');
    expect(postprocessE2E([...encodeText(' A pub .'), 198, 198, ...encodeText('More')])).toBe('A pub .');
  });

  it('cuts at a literal "<|endoftext|>" spelt out in ordinary BPE pieces', () => {
    const ids = encodeText(' It is cheap <|endoftext|> and more');
    expect(ids).not.toContain(EOS);
    expect(postprocessE2E(ids)).toBe('It is cheap');
  });

  it('strips Python whitespace and keeps the output on one line', () => {
    expect(postprocessE2E(encodeText(' \u00a0Near the river .\t '))).toBe('Near the river .');
    expect(postprocessE2E(encodeText(' Line one\nline two\r\nthree'))).toBe('Line one line two three');
    expect(oneLine('a\u2028b\x0bc\x85d')).toBe('a b c d');
    expect(pyStrip('\x1f x \ufeff')).toBe('x \ufeff'); // Python strips \x1f but not the BOM
  });

  it('decodes a trailing partial UTF-8 character as U+FFFD, and leaks nothing into the next call', () => {
    // 447 is the bytes e2 80 (the start of "’" = e2 80 99); 247 is 99.
    expect(decodeGenerated([447, 247])).toBe('’');
    expect(decodeGenerated([64, 447])).toBe('a\ufffd');
    expect(decodeGenerated([64])).toBe('a');
    expect(postprocessE2E([...encodeText(' café'), EOS])).toBe('café');
  });

  it('applies the same cuts to references', () => {
    expect(cleanReference(' A ref . <|endoftext|>x')).toBe('A ref .');
    expect(cleanReference('first\n\nsecond')).toBe('first');
  });
});

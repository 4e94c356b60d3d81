import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { e2eTitle, findE2EData, findE2EFile } from './e2e-location';
import { parseE2EText, parseJsonl } from './loaders';
import { EOS, decodeTokens, encodeExample, encodeText } from './tokenizer';

const E2E = findE2EData() ?? '';
const NEEDED = ['valid', 'test'].flatMap((s) => [`lora-format/${s}.txt`, `splitlora-jsonl/${s}.jsonl`, `splitlora-jsonl/${s}_formatted.jsonl`]).map((f) => findE2EFile(f));

describe('GPT-2 BPE', () => {
  it('encodes SplitLoRA-style: BPE(context)+EOS, BPE(" "+completion)+EOS', () => {
    // "a" = 64 and " b" = 275 in GPT-2's vocabulary.
    expect(encodeExample('a', 'b')).toEqual({ context: [64, EOS], completion: [275, EOS] });
    expect(encodeExample('', 'b').context).toEqual([EOS]);
  });

  it('treats "<|endoftext|>" inside data as text, like the Python encoder', () => {
    const ids = encodeText('x <|endoftext|> y');
    expect(ids).not.toContain(EOS);
    expect(decodeTokens(ids)).toBe('x <|endoftext|> y');
    expect(decodeTokens([EOS])).toBe('<|endoftext|>');
  });

  it('round-trips non-ASCII text', () => {
    const s = 'Café £ 20 - 25 , naïve ☕';
    expect(decodeTokens(encodeText(s))).toBe(s);
  });
});

describe.skipIf(NEEDED.includes(undefined))(e2eTitle('parity with SplitLoRA ids', ...NEEDED), () => {
  for (const split of ['valid', 'test']) {
    it(`every ${split} line encodes to SplitLoRA's ids`, () => {
      const { examples } = parseE2EText(readFileSync(path.join(E2E, `lora-format/${split}.txt`), 'utf8'), `${split}.txt`);
      const golden = readFileSync(path.join(E2E, `splitlora-jsonl/${split}.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { context: number[]; completion: number[] });
      expect(examples.length).toBe(split === 'valid' ? 4672 : 4693);
      expect(golden.length).toBe(examples.length);
      const mismatches = examples.filter((e, i) => {
        const enc = encodeExample(e.context, e.completion);
        const g = golden[i];
        return enc.context.join() !== g.context.join() || enc.completion.join() !== g.completion.join();
      });
      expect(mismatches).toEqual([]);
    });

    it(`${split}.txt parses to the same text as SplitLoRA's ${split}_formatted.jsonl`, () => {
      const fromTxt = parseE2EText(readFileSync(path.join(E2E, `lora-format/${split}.txt`), 'utf8'), 'txt').examples;
      const fromJsonl = parseJsonl(readFileSync(path.join(E2E, `splitlora-jsonl/${split}_formatted.jsonl`), 'utf8'), 'jsonl').examples;
      expect(fromTxt).toEqual(fromJsonl);
    });
  }
});

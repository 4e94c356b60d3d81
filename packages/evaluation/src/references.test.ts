import { readFileSync } from 'node:fs';
import { parseE2EText } from '@splitlora/data';
import { e2eTitle, findE2EFile } from '@splitlora/data/node';
import { readGroupedRefs } from '@splitlora/metrics';
import { describe, expect, it } from 'vitest';
import { formatGroupedRefs, formatLines, groupByMr } from './references';

const found = ['test.txt', 'test_refs_grouped.txt', 'test_mrs_unique.txt'].map((f) => findE2EFile(`lora-format/${f}`));
const files = found.map((f) => f ?? '');

describe('groupByMr', () => {
  it('groups by MR in first-appearance order, non-contiguous repeats included', () => {
    const ex = [
      { context: 'name : A', completion: 'a1' },
      { context: 'name : B', completion: 'b1' },
      { context: 'name : A', completion: 'a2' },
      { context: 'name : C', completion: 'c1 <|endoftext|> junk' }, // cut as gpt2_decode.py cuts refs
    ];
    const g = groupByMr(ex);
    expect(g.mrs).toEqual(['name : A', 'name : B', 'name : C']);
    expect(g.refs).toEqual([['a1', 'a2'], ['b1'], ['c1']]);
    expect(formatGroupedRefs(g.refs)).toBe('a1\na2\n\nb1\n\nc1\n\n');
    expect(formatLines(g.mrs)).toBe('name : A\nname : B\nname : C\n');
    // The official reader gets the same groups back.
    expect(readGroupedRefs(formatGroupedRefs(g.refs))).toEqual(g.refs);
  });

  describe.skipIf(found.includes(undefined))(e2eTitle('on the E2E test set', ...found), () => {
    it("reproduces SplitLoRA/LoRA's e2e_ref.txt and the unique-MR list byte for byte", () => {
      const [test, refsFile, mrsFile] = files.map((f) => readFileSync(f, 'utf8'));
      const { examples, skipped } = parseE2EText(test, files[0]);
      expect(skipped).toBe(0);
      const g = groupByMr(examples);
      expect(examples).toHaveLength(4693);
      expect(g.mrs).toHaveLength(630);
      expect(formatGroupedRefs(g.refs)).toBe(refsFile);
      expect(formatLines(g.mrs)).toBe(mrsFile);
    });
  });
});

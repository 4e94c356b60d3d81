import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { e2eTitle, findE2EData, findE2EFile } from './e2e-location';
import { DataFormatError } from './examples';
import { detectFormat, parseDataFile, parseE2ECsv, parseE2EText, parseJsonl, parsePlainText } from './loaders';

const E2E = findE2EData() ?? '';
const NEEDED = ['official-csv/devset.csv', 'official-csv/testset_w_refs.csv', 'official-csv/testset.csv', 'lora-format/valid.txt', 'lora-format/test.txt', 'lora-format/test_mrs_unique.txt'].map((f) => findE2EFile(f));
const read = (p: string) => readFileSync(path.join(E2E, p), 'utf8');

describe('parseE2EText', () => {
  it('splits MR||ref, trims (the trailing space of lora-format refs) and skips blank lines', () => {
    const text = 'name : A | area : riverside||A is by the river . \r\n\n  \nname : B||B . \n';
    expect(parseE2EText(text, 'v.txt')).toEqual({
      examples: [
        { context: 'name : A | area : riverside', completion: 'A is by the river .' },
        { context: 'name : B', completion: 'B .' },
      ],
      skipped: 0,
    });
  });

  it('names file, 1-based line and problem for a bad line', () => {
    const text = 'name : A||ok\n\nname : B no separator\n';
    expect(() => parseE2EText(text, 'valid.txt')).toThrow('valid.txt:3: expected "MR||ref", found no "||"');
    expect(() => parseE2EText('a||b||c', 'x.txt')).toThrow('x.txt:1: expected "MR||ref", found 2 "||"');
    expect(() => parseE2EText('a|| ', 'x.txt')).toThrow('x.txt:1: expected "MR||ref", found an empty ref');
    try {
      parseE2EText(text, 'valid.txt');
    } catch (e) {
      expect(e).toBeInstanceOf(DataFormatError);
      expect(e).toMatchObject({ code: 'DATA_FORMAT', file: 'valid.txt', line: 3 });
    }
  });

  it('with skipBad, skips and counts bad lines', () => {
    const r = parseE2EText('a||b\nbad\nc||d\n||e\n', 'x.txt', { skipBad: true });
    expect(r.examples.map((e) => e.context)).toEqual(['a', 'c']);
    expect(r.skipped).toBe(2);
  });
});

describe('parseJsonl', () => {
  it('accepts {context, completion} and {prompt, completion}', () => {
    const text = '{"context": "c1", "completion": " x "}\n{"prompt": "p2", "completion": "y", "extra": 1}\n';
    expect(parseJsonl(text, 'd.jsonl').examples).toEqual([
      { context: 'c1', completion: 'x' },
      { context: 'p2', completion: 'y' },
    ]);
  });

  it('reports invalid JSON, wrong keys and token-id files by line', () => {
    expect(() => parseJsonl('{"context":"a","completion":"b"}\n{oops}', 'd.jsonl')).toThrow(/^d\.jsonl:2: invalid JSON/);
    expect(() => parseJsonl('{"text":"a"}', 'd.jsonl')).toThrow('d.jsonl:1: expected {"context" or "prompt": string, "completion": string}, found keys: text');
    expect(() => parseJsonl('[1,2]', 'd.jsonl')).toThrow('d.jsonl:1: expected a JSON object');
    expect(() => parseJsonl('{"context":[1],"completion":[2]}', 'd.jsonl')).toThrow('d.jsonl:1: found token ids');
    expect(parseJsonl('{"text":"a"}\n{"context":"a","completion":"b"}', 'd', { skipBad: true }).skipped).toBe(1);
  });
});

describe('parsePlainText', () => {
  it('gives one loss-on-everything example per non-blank line', () => {
    expect(parsePlainText('First line.\n\n  Second line.  \n', 't.txt').examples).toEqual([
      { context: '', completion: 'First line.' },
      { context: '', completion: 'Second line.' },
    ]);
  });
});

describe('parseE2ECsv', () => {
  it('converts official MRs and refs to lora-format style', () => {
    const csv = 'MR,Ref\r\n"name[The Eagle], eatType[coffee shop], priceRange[£20-25], familyFriendly[yes]","The Eagle, a kid-friendly place, isn\'t cheap."\r\n';
    expect(parseE2ECsv(csv, 'dev.csv').examples).toEqual([
      {
        context: 'name : The Eagle | Type : coffee shop | price : £ 20 - 25 | family friendly : yes',
        completion: "The Eagle , a kid - friendly place , isn 't cheap .",
      },
    ]);
  });

  it('reads an MR-only file as prompts with empty completions', () => {
    expect(parseE2ECsv('MR\n"name[X], area[riverside]"\n', 'testset.csv').examples).toEqual([
      { context: 'name : X | area : riverside', completion: '' },
    ]);
  });

  it('reports the header, bad MRs (at the line where the record starts) and broken quoting', () => {
    expect(() => parseE2ECsv('a,b\nx,y\n', 'f.csv')).toThrow('f.csv:1: expected a header with columns "mr" and "ref", found "a,b"');
    const text = 'mr,ref\n"name[A]","two\nlines"\nname A,ref\n';
    expect(() => parseE2ECsv(text, 'f.csv')).toThrow('f.csv:4: expected an MR like "name[X], eatType[Y]", found "name A"');
    expect(parseE2ECsv(text, 'f.csv', { skipBad: true })).toEqual({
      examples: [{ context: 'name : A', completion: 'two lines' }],
      skipped: 1,
    });
    expect(() => parseE2ECsv('mr,ref\n"name[A],x\n', 'f.csv')).toThrow(/^f\.csv:\d+: invalid CSV/);
    expect(() => parseE2ECsv('mr,ref\n"name[A]",\n', 'f.csv')).toThrow('f.csv:2: expected a ref in column "ref", found none');
  });
});

describe('format detection', () => {
  it('uses the extension, then the first line', () => {
    expect(detectFormat('', 'a.csv')).toBe('csv');
    expect(detectFormat('', 'a.JSONL')).toBe('jsonl');
    expect(detectFormat('\n{"context":"a"}', 'a.txt')).toBe('jsonl');
    expect(detectFormat('name : A||ref', 'valid.txt')).toBe('e2e');
    expect(detectFormat('Once upon a time', 'story.txt')).toBe('text');
  });

  it('parseDataFile dispatches and rejects unknown formats', () => {
    expect(parseDataFile('a||b', 'x.txt').examples).toEqual([{ context: 'a', completion: 'b' }]);
    expect(parseDataFile('a||b', 'x.txt', 'text').examples).toEqual([{ context: '', completion: 'a||b' }]);
    expect(() => parseDataFile('a', 'x', 'yaml' as never)).toThrow('unknown data format "yaml"');
  });
});

describe.skipIf(NEEDED.includes(undefined))(e2eTitle('official CSV vs lora-format', ...NEEDED), () => {
  it('devset.csv converts to valid.txt: every MR, and all but 2 of 4,672 refs', () => {
    const fromCsv = parseE2ECsv(read('official-csv/devset.csv'), 'devset.csv').examples;
    const lora = parseE2EText(read('lora-format/valid.txt'), 'valid.txt').examples;
    expect(fromCsv.length).toBe(lora.length);
    expect(fromCsv.map((e) => e.context)).toEqual(lora.map((e) => e.context));
    const refMismatches = fromCsv.filter((e, i) => e.completion !== lora[i].completion).length;
    expect(refMismatches).toBeLessThanOrEqual(2);
  });

  it('testset_w_refs.csv converts to every MR of test.txt', () => {
    const fromCsv = parseE2ECsv(read('official-csv/testset_w_refs.csv'), 'testset_w_refs.csv').examples;
    const lora = parseE2EText(read('lora-format/test.txt'), 'test.txt').examples;
    expect(fromCsv.map((e) => e.context)).toEqual(lora.map((e) => e.context));
  });

  it('testset.csv (MRs only) gives the 630 unique test MRs in order', () => {
    const mrs = parseE2ECsv(read('official-csv/testset.csv'), 'testset.csv').examples.map((e) => e.context);
    expect(mrs).toEqual(read('lora-format/test_mrs_unique.txt').trim().split('\n'));
  });
});

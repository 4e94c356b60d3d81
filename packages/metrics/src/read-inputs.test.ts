import { describe, expect, it } from 'vitest';
import { MetricsInputError, checkInputs, readGroupedRefs, readHyps } from './read-inputs';

describe('readGroupedRefs', () => {
  it('splits groups at blank lines and strips each line', () => {
    expect(readGroupedRefs('a one\n  a two \n\nb one\n')).toEqual([['a one', 'a two'], ['b one']]);
    // CRLF files and a whitespace-only separator line read the same; trailing blank lines add nothing.
    expect(readGroupedRefs('a one\r\na two\r\n \r\nb one\r\n\r\n')).toEqual([['a one', 'a two'], ['b one']]);
  });

  it('reads a file without blank lines as one reference per instance', () => {
    expect(readGroupedRefs('x\ny\nz')).toEqual([['x'], ['y'], ['z']]);
    expect(readGroupedRefs('')).toEqual([]);
  });

  it('keeps the empty group two blank lines make, as the official reader does', () => {
    expect(readGroupedRefs('a\n\n\nb\n')).toEqual([['a'], [], ['b']]);
  });
});

describe('readHyps', () => {
  it('gives one output per line, empty lines included', () => {
    expect(readHyps('first \n\nthird\n')).toEqual(['first', '', 'third']);
    expect(readHyps('no final newline')).toEqual(['no final newline']);
    expect(readHyps('\ufeffbom\n')).toEqual(['bom']);
  });
});

describe('checkInputs', () => {
  it('names both counts when they differ', () => {
    expect(() => checkInputs([['a'], ['b']], ['x'])).toThrow(MetricsInputError);
    expect(() => checkInputs([['a'], ['b']], ['x'])).toThrow('got 2 reference groups but 1 hypotheses');
  });

  it('rejects an empty reference group by index', () => {
    expect(() => checkInputs([['a'], []], ['x', 'y'])).toThrow('reference group 1 (0-based) is empty');
    expect(() => checkInputs([['a']], ['x'])).not.toThrow();
  });
});

import { describe, expect, it } from 'vitest';
import { BatchIterator, epochOrder, makeBatch } from './batching';
import { EOS, encodeExample } from './tokenizer';

const E = EOS;

describe('makeBatch', () => {
  // Sequences: [1 2 | 3 4] and [5 | 6] (context | completion), so T = 4 - 1 = 3.
  const examples = [
    { context: [1, 2], completion: [3, 4] },
    { context: [5], completion: [6] },
  ];

  it('builds next-token targets, a completion-only mask and EOS padding, [B, T] row-major', () => {
    const b = makeBatch(examples);
    expect([b.batch, b.seqLen]).toEqual([2, 3]);
    expect([...b.ids]).toEqual([1, 2, 3, 5, E, E]);
    expect([...b.targets]).toEqual([2, 3, 4, 6, E, E]);
    // Row 0 predicts 2 (context), 3, 4; row 1 predicts 6, then padding.
    expect([...b.mask]).toEqual([0, 1, 1, 1, 0, 0]);
  });

  it('truncates to maxLen input positions, keeping the start', () => {
    const b = makeBatch(examples, { maxLen: 2 });
    expect(b.seqLen).toBe(2);
    expect([...b.ids]).toEqual([1, 2, 5, E]);
    expect([...b.targets]).toEqual([2, 3, 6, E]);
    expect([...b.mask]).toEqual([0, 1, 1, 0]);
    expect(() => makeBatch(examples, { maxLen: 0 })).toThrow('maxLen must be an integer >= 1');
  });

  it('scores every token of a plain-text example (context [EOS])', () => {
    const plain = encodeExample('', 'Hello world');
    const b = makeBatch([plain]);
    expect(b.ids[0]).toBe(EOS);
    expect(b.seqLen).toBe(plain.completion.length);
    expect([...b.targets]).toEqual(plain.completion);
    expect([...b.mask].every((m) => m === 1)).toBe(true);
  });

  it('masks exactly the completion tokens of real encodings', () => {
    const enc = [encodeExample('name : A | food : Thai', 'A serves Thai food .'), encodeExample('name : B', 'B .')];
    const b = makeBatch(enc);
    const maskSum = b.mask.reduce((s, m) => s + m, 0);
    expect(maskSum).toBe(enc[0].completion.length + enc[1].completion.length);
    expect(() => makeBatch([])).toThrow('at least one example');
    expect(() => makeBatch([{ context: [E], completion: [] }])).toThrow('at least 2 tokens');
  });
});

describe('epochOrder', () => {
  it('is a seeded permutation that changes each epoch', () => {
    const o = epochOrder(50, 9, 0);
    expect([...o].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(epochOrder(50, 9, 0)).toEqual(o);
    expect(epochOrder(50, 9, 1)).not.toEqual(o);
    expect(epochOrder(50, 10, 0)).not.toEqual(o);
  });
});

describe('BatchIterator', () => {
  it('covers each example once per epoch, the last batch short', () => {
    const it = new BatchIterator(10, 4, { seed: 1 });
    expect(it.batchesPerEpoch).toBe(3);
    const epoch0 = [it.next(), it.next(), it.next()];
    expect(epoch0.map((b) => b.indices.length)).toEqual([4, 4, 2]);
    expect(epoch0.every((b) => b.epoch === 0)).toBe(true);
    expect(epoch0.flatMap((b) => b.indices)).toEqual(epochOrder(10, 1, 0));
    expect(it.state).toEqual({ epoch: 1, cursor: 0, seed: 1 });
    expect(it.next()).toEqual({ indices: epochOrder(10, 1, 1).slice(0, 4), epoch: 1 });
  });

  it('with dropLast, yields only full batches', () => {
    const it = new BatchIterator(10, 4, { seed: 1 }, { dropLast: true });
    expect(it.batchesPerEpoch).toBe(2);
    expect([it.next().indices.length, it.next().indices.length, it.next().epoch]).toEqual([4, 4, 1]);
    expect(() => new BatchIterator(3, 4, { seed: 1 }, { dropLast: true })).toThrow('lower the batch size');
  });

  it('resumes from a saved state exactly where it left off', () => {
    const straight = new BatchIterator(13, 3, { seed: 42 });
    const expected = Array.from({ length: 12 }, () => straight.next());
    const first = new BatchIterator(13, 3, { seed: 42 });
    const head = Array.from({ length: 7 }, () => first.next());
    const saved = JSON.parse(JSON.stringify(first.state));
    const resumed = new BatchIterator(13, 3, saved);
    const tail = Array.from({ length: 5 }, () => resumed.next());
    expect([...head, ...tail]).toEqual(expected);
  });

  it('rejects states that do not fit the data', () => {
    expect(() => new BatchIterator(5, 2, { epoch: 0, cursor: 5, seed: 1 })).toThrow('invalid BatchIterator state');
    expect(() => new BatchIterator(5, 2, { epoch: -1, cursor: 0, seed: 1 })).toThrow('invalid BatchIterator state');
    expect(() => new BatchIterator(0, 2, { seed: 1 })).toThrow('at least one example');
  });
});

import { describe, expect, it } from 'vitest';
import { FedAvgStrategy } from './strategy';

const rec = (v: number) => ({ x: { shape: [2], data: new Float32Array([v, 2 * v]) } });

describe('FedAvgStrategy', () => {
  it('asks every available client', () => {
    const s = new FedAvgStrategy();
    expect(s.configureRound(0, [{ clientId: 'a', examples: 3 }, { clientId: 'b', examples: 1 }])).toEqual(['a', 'b']);
    expect(s.configureRound(1, [])).toEqual([]);
  });

  it('averages the results weighted by examples, ignoring failures', () => {
    const s = new FedAvgStrategy({ minResults: 2 });
    const out = s.aggregate(
      0,
      [
        { clientId: 'a', examples: 1, tensors: rec(1) },
        { clientId: 'b', examples: 3, tensors: rec(5) },
      ],
      [{ clientId: 'c', reason: 'disconnect' }],
    );
    expect(out.participants).toEqual(['a', 'b']);
    expect(Array.from(out.tensors!.x.data)).toEqual([4, 8]);
  });

  it('returns null (keep the previous average) with fewer than minResults usable results', () => {
    const s = new FedAvgStrategy({ minResults: 2 });
    const out = s.aggregate(
      3,
      [
        { clientId: 'a', examples: 4, tensors: rec(1) },
        { clientId: 'z', examples: 0, tensors: rec(9) }, // no weight: not usable
      ],
      [
        { clientId: 'b', reason: 'deadline' },
        { clientId: 'c', reason: 'deadline' },
      ],
    );
    expect(out.tensors).toBeNull();
    expect(out.participants).toEqual([]);
    expect(out.reason).toMatch(/1 usable result\(s\), fewer than minResults 2/);
    expect(out.reason).toMatch(/2× deadline/);
    expect(new FedAvgStrategy().aggregate(0, [], []).tensors).toBeNull();
  });

  it('rejects a nonsensical minResults', () => {
    expect(() => new FedAvgStrategy({ minResults: 0 })).toThrow(/minResults/);
  });
});

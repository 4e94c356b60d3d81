import { describe, expect, it } from 'vitest';
import { mrOf } from './mr';
import { parsePartitionSpec, partition, type PartitionSpec } from './partition';
import { syntheticE2E } from './synthetic';

const data = syntheticE2E({ n: 600, seed: 3 });
const typeOf = (i: number) => mrOf(data[i]).Type ?? '(none)';
const SPECS: PartitionSpec[] = ['iid', 'contiguous', { attr: 'eatType' }, { dirichlet: 0.5, attr: 'area' }];

function expectExactCover(shards: number[][], n: number) {
  const all = shards.flat().sort((a, b) => a - b);
  expect(all).toEqual(Array.from({ length: n }, (_, i) => i));
}

/** Mean total-variation distance between each client's eatType mix and the global mix. */
function skew(shards: number[][]): number {
  const dist = (idx: number[]) => {
    const m = new Map<string, number>();
    idx.forEach((i) => m.set(typeOf(i), (m.get(typeOf(i)) ?? 0) + 1 / idx.length));
    return m;
  };
  const global = dist(data.map((_, i) => i));
  const tv = (m: Map<string, number>) => [...global.keys()].reduce((s, k) => s + Math.abs((m.get(k) ?? 0) - global.get(k)!), 0) / 2;
  return shards.reduce((s, sh) => s + tv(dist(sh)), 0) / shards.length;
}

describe('partition', () => {
  for (const spec of SPECS) {
    it(`${JSON.stringify(spec)}: every example exactly once, no empty client, seeded`, () => {
      const a = partition(data, 5, spec, 1);
      expect(a).toHaveLength(5);
      expectExactCover(a, data.length);
      for (const s of a) expect(s.length).toBeGreaterThan(0);
      expect(partition(data, 5, spec, 1)).toEqual(a);
      if (spec !== 'contiguous') expect(partition(data, 5, spec, 2)).not.toEqual(a);
    });
  }

  it('iid and contiguous shards differ in size by at most one', () => {
    for (const spec of ['iid', 'contiguous'] as const) {
      const sizes = partition(data.slice(0, 497), 4, spec, 0).map((s) => s.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
    expect(partition(data.slice(0, 9), 3, 'contiguous', 0)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
  });

  it('attr gives each eatType value to exactly one client', () => {
    const shards = partition(data, 3, { attr: 'eatType' }, 5);
    const owners = new Map<string, Set<number>>();
    shards.forEach((s, c) => s.forEach((i) => owners.set(typeOf(i), (owners.get(typeOf(i)) ?? new Set()).add(c))));
    expect(owners.size).toBe(7); // six types + (none)
    for (const clients of owners.values()) expect(clients.size).toBe(1);
    expect(skew(shards)).toBeGreaterThan(0.3);
  });

  it('attr with fewer values than clients still feeds every client', () => {
    const shards = partition(data, 8, { attr: 'familyFriendly' }, 0); // yes, no, (none)
    expectExactCover(shards, data.length);
    for (const s of shards) expect(s.length).toBeGreaterThan(10);
  });

  it('dirichlet skew falls as alpha grows', () => {
    const small = skew(partition(data, 4, { dirichlet: 0.1, attr: 'eatType' }, 0));
    const large = skew(partition(data, 4, { dirichlet: 1000, attr: 'eatType' }, 0));
    const iid = skew(partition(data, 4, 'iid', 0));
    expect(small).toBeGreaterThan(0.3);
    expect(large).toBeLessThan(0.1);
    expect(iid).toBeLessThan(0.1);
  });

  it('handles fewer examples than clients', () => {
    expect(partition(data.slice(0, 2), 3, 'iid', 0).map((s) => s.length).sort()).toEqual([0, 1, 1]);
    expectExactCover(partition(data.slice(0, 2), 3, { dirichlet: 0.5 }, 0), 2);
    expect(() => partition(data, 0, 'iid', 0)).toThrow('nClients must be an integer >= 1');
  });
});

describe('parsePartitionSpec', () => {
  it('parses the three forms, defaulting dirichlet to eatType', () => {
    expect(parsePartitionSpec('iid')).toBe('iid');
    expect(parsePartitionSpec('contiguous')).toBe('contiguous');
    expect(parsePartitionSpec('attr:area')).toEqual({ attr: 'area' });
    expect(parsePartitionSpec('dirichlet:0.5')).toEqual({ dirichlet: 0.5, attr: 'eatType' });
    expect(parsePartitionSpec('dirichlet:2:area')).toEqual({ dirichlet: 2, attr: 'area' });
  });

  it('rejects bad specs with a hint', () => {
    expect(() => parsePartitionSpec('random')).toThrow('unknown partition "random": use iid, contiguous');
    expect(() => parsePartitionSpec('dirichlet:0')).toThrow('dirichlet alpha must be a number > 0, got "0"');
    expect(() => parsePartitionSpec('attr:cuisine')).toThrow('unknown MR attribute "cuisine"');
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { e2eTitle, findE2EFile } from './e2e-location';
import { MR_SLOTS, mrOf } from './mr';
import { SYNTHETIC_VALUES, syntheticE2E } from './synthetic';

const VALID = findE2EFile('lora-format/valid.txt');

describe('syntheticE2E', () => {
  const data = syntheticE2E({ n: 600, seed: 7 });

  it('is seeded: same seed, same data; another seed, other data', () => {
    expect(syntheticE2E({ n: 600, seed: 7 })).toEqual(data);
    expect(syntheticE2E({ n: 600, seed: 8 })).not.toEqual(data);
    expect(syntheticE2E({ n: 10, seed: 7 })).toEqual(data.slice(0, 10));
    expect(syntheticE2E({ n: 0 })).toEqual([]);
  });

  it('gives n lora-format pairs over the eight E2E slots, from the built-in values', () => {
    expect(data).toHaveLength(600);
    for (const e of data) {
      const slots = mrOf(e);
      expect(slots.name).toBeDefined();
      const n = Object.keys(slots).length;
      expect(n).toBeGreaterThanOrEqual(3);
      expect(n).toBeLessThanOrEqual(8);
      for (const [k, v] of Object.entries(slots)) {
        expect(MR_SLOTS).toContain(k);
        expect(SYNTHETIC_VALUES[k as keyof typeof SYNTHETIC_VALUES]).toContain(v);
      }
    }
    const slotsSeen = new Set(data.flatMap((e) => Object.keys(mrOf(e))));
    expect(slotsSeen.size).toBe(8);
  });

  it('gives each MR several different refs that mention every slot value', () => {
    for (let i = 0; i < data.length; i += 3) {
      const group = data.slice(i, i + 3);
      expect(new Set(group.map((e) => e.context)).size).toBe(1);
      expect(new Set(group.map((e) => e.completion)).size).toBe(3);
      for (const e of group) {
        const { 'family friendly': family, ...rest } = mrOf(e);
        for (const v of Object.values(rest)) expect(e.completion).toContain(v);
        if (family) expect(e.completion.includes('not family - friendly')).toBe(family === 'no');
        expect(e.completion).toMatch(/ \.$/);
      }
    }
    expect(syntheticE2E({ n: 8, seed: 1, refsPerMr: 4 }).map((e) => e.context)[3]).toBe(
      syntheticE2E({ n: 8, seed: 1, refsPerMr: 4 })[0].context,
    );
    expect(() => syntheticE2E({ n: 5, refsPerMr: 9 })).toThrow('refsPerMr must be an integer in 1..4');
  });

  it.skipIf(!VALID)(e2eTitle('shares no restaurant or landmark name with E2E', VALID), () => {
    const real = readFileSync(VALID!, 'utf8');
    for (const v of [...SYNTHETIC_VALUES.name, ...SYNTHETIC_VALUES.near]) {
      expect(real.includes(`name : ${v} `) || real.includes(`near : ${v}`)).toBe(false);
    }
  });
});

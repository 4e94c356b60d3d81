import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPUS_VALUES } from './corpus';
import { e2eTitle, findE2EFile } from './e2e-location';
import { e2eSchemaCorpus, e2eSchemaExamples, harvestMrValues, statesFact } from './e2e-schema';
import { readMrValues } from './files-node';
import { MR_SLOTS, formatMr, parseMr, type MrSlot } from './mr';
import { tokenizeE2E } from './word-tokenize';

// A made-up dev split in lora-format (not E2E text): MRs with the E2E slots, and references.
const FAKE_DEV = [
  'name : Quillon | Type : coffee shop | food : English | price : cheap | area : riverside | near : Marlow Hall||Quillon is a cheap coffee shop in riverside near Marlow Hall .',
  'name : Quillon | Type : coffee shop | customer rating : 5 out of 5 | family friendly : yes||A 5 out of 5 rated coffee shop , Quillon , welcomes families .',
  'name : The Tarrow | food : Chinese | price : £ 20 - 25 | customer rating : high | area : city centre | family friendly : no | near : Bexby Inn||The Tarrow serves Chinese food for £ 20 - 25 in the city centre near Bexby Inn ; rated high ; not for kids .',
  'name : Ossary | Type : coffee shop | price : less than £ 20 | area : city centre||Ossary is a coffee shop in city centre with prices less than £ 20 .',
  'name : Ossary | customer rating : average | near : Marlow Hall||Ossary , near Marlow Hall , has an average rating .',
];
const FAKE_MRS = FAKE_DEV.map((l) => l.split('||')[0]);
const FAKE_REFS = new Set(FAKE_DEV.map((l) => l.split('||')[1]));
const values = harvestMrValues(FAKE_MRS);
const LINE = /^name : [^|]+( \| (Type|food|price|customer rating|area|family friendly|near) : [^|]+)*\|\|\S.*\S$/;

describe('harvestMrValues', () => {
  it('collects the distinct values of each slot, in first-seen order, under lora-format slot names', () => {
    expect(values.name).toEqual(['Quillon', 'The Tarrow', 'Ossary']);
    expect(values.price).toEqual(['cheap', '£ 20 - 25', 'less than £ 20']);
    expect(values['customer rating']).toEqual(['5 out of 5', 'high', 'average']);
    expect(values['family friendly']).toEqual(['yes', 'no']);
    expect(harvestMrValues(['name : Aa | eatType : pub']).Type).toEqual(['pub']);
    expect(() => harvestMrValues(['name : X | colour : red'])).toThrow(/unknown MR attribute "colour"/);
  });

  it('reads the MR side of a data file (readMrValues)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2e-schema-'));
    try {
      writeFileSync(join(dir, 'dev.txt'), FAKE_DEV.join('\n') + '\n');
      expect(await readMrValues(join(dir, 'dev.txt'))).toEqual(values);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('e2eSchemaCorpus', () => {
  const lines = e2eSchemaCorpus({ values, n: 1500, seed: 3, avoid: FAKE_REFS });
  const split = (l: string) => l.split('||') as [string, string];

  it('writes lora-format "MR||text" lines, slots in the E2E order, a name and 2..7 other slots', () => {
    for (const l of lines) {
      expect(l, l).toMatch(LINE);
      const [mr] = split(l);
      const slots = parseMr(mr);
      expect(formatMr(slots), l).toBe(mr); // canonical slot order and spacing
      const n = Object.keys(slots).length;
      expect(n).toBeGreaterThanOrEqual(3);
      expect(n).toBeLessThanOrEqual(8);
    }
    expect(e2eSchemaExamples({ values, n: 3, seed: 3, avoid: FAKE_REFS })).toEqual(lines.slice(0, 3).map((l) => ({ context: split(l)[0], completion: split(l)[1] })));
  });

  it('states every fact of its MR in its text: names, areas, prices and ratings verbatim', () => {
    for (const l of lines) {
      const [mr, text] = split(l);
      for (const [slot, value] of Object.entries(parseMr(mr)) as [MrSlot, string][]) {
        expect(statesFact(text, slot, value), `${slot} : ${value} in ${l}`).toBe(true);
        if (slot !== 'family friendly') expect(text.toLowerCase(), l).toContain(value.toLowerCase());
      }
      expect(text, l).toContain(parseMr(mr).name);
      expect(tokenizeE2E(text)).toBe(text); // spelled like the lora-format refs
    }
  });

  it('varies the texts and the order in which they state the facts', () => {
    expect(new Set(lines.map((l) => split(l)[1])).size).toBeGreaterThan(lines.length * 0.9);
    const nameFirst = lines.filter((l) => split(l)[1].startsWith(parseMr(split(l)[0]).name!)).length;
    expect(nameFirst / lines.length).toBeGreaterThan(0.1);
    expect(nameFirst / lines.length).toBeLessThan(0.7);
    const withBoth = lines.filter((l) => parseMr(split(l)[0]).area && parseMr(split(l)[0]).near);
    const areaFirst = withBoth.filter((l) => { const [mr, t] = split(l); const s = parseMr(mr); return t.indexOf(s.area!) < t.indexOf(s.near!); });
    expect(areaFirst.length).toBeGreaterThan(0);
    expect(areaFirst.length).toBeLessThan(withBoth.length);
  });

  it('mixes harvested values with invented names; invented: 0 keeps to the harvested values', () => {
    const names = new Set(lines.map((l) => parseMr(split(l)[0]).name));
    for (const n of values.name) expect(names.has(n)).toBe(true);
    const invented = [...names].filter((n) => !values.name.includes(n!));
    expect(invented.length).toBeGreaterThan(100); // copying must not rely on a memorised list
    const closed = e2eSchemaCorpus({ values, n: 300, seed: 4, invented: 0 });
    for (const l of closed) {
      for (const [slot, value] of Object.entries(parseMr(split(l)[0]))) expect(values[slot as MrSlot], `${slot} : ${value}`).toContain(value);
    }
    // Slots that the split never fills are left out.
    const noNear = e2eSchemaCorpus({ values: { ...values, near: [] }, n: 200, seed: 4, invented: 0 });
    expect(noNear.some((l) => l.includes('| near :'))).toBe(false);
    expect(CORPUS_VALUES.name.some((n) => names.has(n))).toBe(true);
  });

  it('vocabNames draws names from GPT-2 vocabulary words, and 0 changes nothing', () => {
    expect(e2eSchemaCorpus({ values, n: 200, seed: 3, avoid: FAKE_REFS, vocabNames: 0 })).toEqual(lines.slice(0, 200));
    const vocab = e2eSchemaCorpus({ values, n: 600, seed: 6, inventedNames: 1, vocabNames: 1 });
    const names = vocab.map((l) => parseMr(split(l)[0]).name!);
    expect(new Set(names).size).toBeGreaterThan(500); // ~10k words to draw from
    for (const name of names) expect(name).toMatch(/^(The )?[A-Z][a-z]+( [A-Z][a-z]+)?$/);
    expect(() => e2eSchemaCorpus({ values, n: 1, vocabNames: -0.1 })).toThrow(/vocabNames must be in \[0, 1\]/);
  });

  it('never produces a text equal to a reference in `avoid`', () => {
    for (const l of lines) expect(FAKE_REFS.has(split(l)[1])).toBe(false);
    // Make the avoided texts ones it would produce, and check they are drawn again.
    const first = e2eSchemaCorpus({ values, n: 400, seed: 5 });
    const avoid = new Set(first.slice(0, 200).map((l) => split(l)[1]));
    const again = e2eSchemaCorpus({ values, n: 400, seed: 5, avoid });
    for (const l of again) expect(avoid.has(split(l)[1]), l).toBe(false);
  });

  it('is seeded', () => {
    expect(e2eSchemaCorpus({ values, n: 1500, seed: 3, avoid: FAKE_REFS })).toEqual(lines);
    expect(e2eSchemaCorpus({ values, n: 50, seed: 3, avoid: FAKE_REFS })).toEqual(lines.slice(0, 50));
    expect(e2eSchemaCorpus({ values, n: 50, seed: 9, avoid: FAKE_REFS })).not.toEqual(lines.slice(0, 50));
  });

  it('refuses bad options with a clear message', () => {
    expect(() => e2eSchemaCorpus({ values, n: -1 })).toThrow(/n must be an integer >= 0/);
    expect(() => e2eSchemaCorpus({ values, n: 1, invented: 2 })).toThrow(/invented must be in \[0, 1\]/);
    expect(() => e2eSchemaCorpus({ values: { ...values, name: [] }, n: 1 })).toThrow(/at least one name/);
  });
});

// The real dev split, where this checkout has it: no generated text is a dev reference.
const REAL_DEV = findE2EFile('lora-format/valid.txt');
// The file is read inside the test: a skipped describe still runs its body.
describe.skipIf(!REAL_DEV)(e2eTitle('e2eSchemaCorpus on the real dev split', REAL_DEV), () => {
  it('harvests the eight slots and copies no reference', () => {
    const dev = readFileSync(REAL_DEV!, 'utf8').split('\n').filter(Boolean).map((l) => l.split('||').map((x) => x.trim()));
    const real = harvestMrValues(dev.map(([mr]) => mr));
    for (const s of MR_SLOTS) expect(real[s].length, s).toBeGreaterThan(0);
    const refs = new Set(dev.map(([, ref]) => ref));
    const lines = e2eSchemaCorpus({ values: real, n: 3000, seed: 11, avoid: refs });
    for (const l of lines) expect(refs.has(l.split('||')[1]), l).toBe(false);
  });
});

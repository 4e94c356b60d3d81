import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDataFile, syntheticE2E } from '@splitlora/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientSeed } from './batches';
import { loadSimData, splitHeldout, toJsonl } from './data';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'splitlora-sim-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('splitHeldout', () => {
  it('holds out whole MRs: no context is both trained on and scored', () => {
    const pool = syntheticE2E({ n: 90, seed: 4 }); // 3 refs per MR
    const [train, held] = splitHeldout(pool, 10, 1);
    expect(train.length + held.length).toBe(90);
    expect(held.length).toBeGreaterThanOrEqual(10);
    expect(held.length).toBeLessThan(13); // whole groups of 3
    const heldCtx = new Set(held.map((e) => e.context));
    expect(train.some((e) => heldCtx.has(e.context))).toBe(false);
    expect(splitHeldout(pool, 10, 1)).toEqual([train, held]); // seeded
    expect(() => splitHeldout(pool, 90, 1)).toThrow(/lower --heldout/);
  });
});

describe('toJsonl', () => {
  it('is what a browser tab parses back to the same examples', () => {
    const xs = [...syntheticE2E({ n: 5, seed: 2 }), { context: '', completion: 'plain "quoted" text, with\ttab' }];
    expect(parseDataFile(toJsonl(xs), 'client-0.jsonl').examples).toEqual(xs);
  });
});

describe('loadSimData', () => {
  it('partitions the synthetic pool into non-empty shards that, with the held-out set, cover it', async () => {
    const d = await loadSimData({ examples: 120, heldout: 12, partition: 'attr:eatType', clients: 3, seed: 5 });
    expect(d.shards).toHaveLength(3);
    for (const [c, s] of d.shards.entries()) {
      expect(s.length).toBeGreaterThan(0);
      expect(s).toHaveLength(d.shardText[c].length);
    }
    expect(d.shards.flat().length + d.heldout.length).toBe(120);
    expect(d.source).toContain('synthetic');
  });

  it('reads --data and --eval-data files', async () => {
    const train = join(tmp, 'train.txt');
    const dev = join(tmp, 'dev.jsonl');
    await writeFile(train, Array.from({ length: 12 }, (_, i) => `name[Place ${i}], food[Thai]||Place ${i} serves Thai food.`).join('\n') + '\n');
    await writeFile(dev, toJsonl([{ context: 'name[Zed]', completion: 'Zed is here.' }, { context: 'name[Ya]', completion: 'Ya is there.' }]));
    const d = await loadSimData({ data: train, examples: 0, heldout: 1, evalData: dev, partition: 'iid', clients: 2, seed: 0 });
    expect(d.shards.map((s) => s.length)).toEqual([6, 6]);
    expect(d.heldoutText).toEqual([{ context: 'name[Zed]', completion: 'Zed is here.' }]);
    await expect(loadSimData({ data: train, examples: 0, heldout: 1, partition: 'iid', clients: 20, seed: 0 })).rejects.toThrow(/no examples/);
  });
});

describe('clientSeed', () => {
  it('differs per client and fits the volunteer page\'s seed range', () => {
    const seeds = [0, 1, 2, 3].map((c) => clientSeed(9, c));
    expect(new Set(seeds).size).toBe(4);
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 31 - 1).toBe(true);
  });
});

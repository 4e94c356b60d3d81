// The two commands end to end on a tiny model in this process: flags in, the --json line out
// (exactly the fields for simulate; one object keyed by method for bench) and the run folder.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { benchCommand } from './bench';
import { simulateCommand } from './simulate';
import { useTempModel } from '../../../../test/kit/temp';
import { TINY } from '../../../../test/kit/tiny';

const fixture = useTempModel('simcmd', TINY, { seed: 1, wteStd: 0.5 });

/** Runs a command and returns the last stdout line, parsed. */
async function lastJson(cmd: { parseAsync(argv: string[]): Promise<unknown> }, args: string[]): Promise<Record<string, any>> {
  const out: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await cmd.parseAsync(['node', 'splitlora', ...args]);
  } finally {
    spy.mockRestore();
    err.mockRestore();
  }
  return JSON.parse(out.join('').trimEnd().split('\n').pop()!);
}

const common = ['--backend', 'wasm', '--clients', '2', '--steps', '2', '--interval', '1', '--batch', '2', '--seq-len', '32', '--lr', '1e-2', '--examples', '40', '--heldout', '6', '--wire', 'int8', '--json'];

describe('splitlora simulate --in-process --json', () => {
  it('prints exactly the issue\'s fields', async () => {
    const r = await lastJson(simulateCommand(), ['--model', fixture.model(), '--in-process', ...common]);
    expect(Object.keys(r).sort()).toEqual(['aggregations', 'backends', 'bytesDown', 'bytesUp', 'clients', 'finalLoss', 'heldoutLoss', 'initialLoss', 'method', 'steps', 'wallSeconds']);
    expect(r).toMatchObject({ method: 'split', clients: 2, steps: 2, aggregations: 2, backends: ['wasm', 'wasm'] });
    for (const k of ['initialLoss', 'finalLoss', 'heldoutLoss', 'wallSeconds']) expect(Number.isFinite(r[k]) && r[k] > 0, k).toBe(true);
    // int8 activations: about one byte per element (2 steps × 2 rows × ≤32 positions × 32 wide) plus the rest.
    for (const b of r.bytesUp) expect(b).toBeGreaterThan(2 * 2 * 16 * 32);
  });
});

describe('splitlora bench --json', () => {
  it('runs the three methods and writes the run folder', async () => {
    const out = join(fixture.dir(), 'bench');
    const r = await lastJson(benchCommand(), ['--model', fixture.model(), '--methods', 'cen,split,fed', '--out', out, '--e2e-mrs', '2', '--e2e-beams', '2', '--rtt-ms', '10', ...common]);
    expect(Object.keys(r)).toEqual(['cen', 'split', 'fed']);
    for (const m of ['cen', 'split', 'fed']) {
      expect(r[m].curve).toHaveLength(3); // start and after each of the 2 rounds
      expect(Object.keys(r[m].e2e).sort()).toEqual(['BLEU', 'CIDEr', 'METEOR', 'NIST', 'ROUGE_L']);
      expect(r[m].timeToTarget.targetPerplexity).toBeGreaterThan(1);
      expect(r[m].modelledSeconds).toBeGreaterThan(0);
    }
    expect(r.split.trainableParams.client).toBeLessThan(r.fed.trainableParams.client);
    expect(r.split.clientFlopsPerStep).toBeLessThan(r.fed.clientFlopsPerStep);
    expect(r.split.peakClientBytes).toBeLessThan(r.fed.peakClientBytes);
    expect(r.cen.clientFlopsPerStep).toBe(0);
    expect(r.split.modelledStep.commSeconds).toBeGreaterThan(0.01); // one 10 ms RTT per step, plus transfers
    const files = await readdir(out);
    for (const f of ['report.md', 'results.json', 'summary.csv', 'curves.csv', 'loss-vs-steps.svg', 'loss-vs-time.svg', 'bytes.svg', 'client-cost.svg']) expect(files).toContain(f);
    expect(await readFile(join(out, 'report.md'), 'utf8')).toContain('--methods cen,split,fed');
    // Where the time went, per method: every phase ran and took time.
    for (const m of ['cen', 'split', 'fed']) {
      for (const p of ['train', 'heldout', 'e2e', 'memory']) expect(r[m].phaseSeconds[p], `${m} ${p}`).toBeGreaterThan(0);
    }
  });

  it('--quick scores fewer held-out examples and checkpoints, and trains the same', async () => {
    // One client, so that the two runs' server steps see the same batches in the same order.
    const args = ['--model', fixture.model(), '--methods', 'split', ...common, '--clients', '1', '--steps', '8', '--examples', '120', '--heldout', '40'];
    const quick = await lastJson(benchCommand(), [...args, '--out', join(fixture.dir(), 'quick'), '--quick']);
    const full = await lastJson(benchCommand(), [...args, '--out', join(fixture.dir(), 'full'), '--no-e2e-eval']);
    const meta = async (dir: string) => JSON.parse(await readFile(join(fixture.dir(), dir, 'results.json'), 'utf8'));
    expect((await meta('quick')).meta.heldoutExamples).toBe(32);
    expect((await meta('full')).meta.heldoutExamples).toBeGreaterThan(32); // whole MRs: at least --heldout
    expect(quick.split.curve).toHaveLength(1 + 4); // the start and every 2nd of 8 rounds
    expect(full.split.curve).toHaveLength(1 + 8);
    expect(quick.split.e2e).not.toBeNull();
    expect((await meta('quick')).losses).toEqual((await meta('full')).losses); // same training, bit for bit
  });

  it('--e2e-data decodes the MRs of another file (e.g. the E2E test split), each against all its references', async () => {
    const test = join(fixture.dir(), 'test.jsonl');
    const lines = [['name : A | food : Thai', 'A serves Thai food.'], ['name : A | food : Thai', 'Thai food at A.'], ['name : B | area : riverside', 'B is by the river.'], ['name : C | price : high', 'C is expensive.']];
    await writeFile(test, lines.map(([context, completion]) => JSON.stringify({ context, completion })).join('\n') + '\n');
    const out = join(fixture.dir(), 'e2e-data');
    await lastJson(benchCommand(), ['--model', fixture.model(), '--methods', 'split', '--out', out, '--e2e-data', test, '--e2e-mrs', '10', '--e2e-beams', '1', ...common]);
    const meta = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')).meta;
    expect(meta.e2e).toEqual({ source: test, mrs: 3, beams: 1 }); // 3 distinct MRs of the 4 lines, not the held-out set's
    expect(await readFile(join(out, 'report.md'), 'utf8')).toContain(`3 MRs of ${test}, beam 1`);
  });
});

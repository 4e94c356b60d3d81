// The run folder: plots, raw numbers and report.md from a bench result.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS } from '@splitlora/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchResult, MethodReport } from './bench';
import { defaultTarget } from './bench';
import { latencyParams, modelledTime } from './latency';
import { jsonByMethod, writeBenchReport } from './report';
import { barChart, fmtTick, lineChart, niceTicks } from './svg';
import { tinySettings } from '../../../../test/kit/tiny';
import type { Method } from './types';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'splitlora-report-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const latency = latencyParams({ clientTflops: 1, serverTflops: 20, centralTflops: 1, uplinkMbps: 20, downlinkMbps: 100, rttMs: 50 });

function fakeReport(method: Method, losses: number[]): MethodReport {
  const work = { method, clients: 2, steps: 4, interval: 2, clientStepFlops: 1e9, serverStepFlops: 2e9, stepUpBytes: 1000, stepDownBytes: 1000, aggUpBytes: 100, aggDownBytes: 100 };
  const modelled = modelledTime(work, latency);
  const curve = losses.map((l, i) => ({ globalStep: 4 * i, round: i, wallSeconds: i, heldoutLoss: l, perplexity: Math.exp(l), modelledSeconds: i * modelled.stepSeconds }));
  return {
    method, name: method, clients: 2, steps: 4, aggregations: 2, curve, finalHeldoutLoss: losses[2], finalPerplexity: Math.exp(losses[2]), bestPerplexity: Math.exp(Math.min(...losses)),
    e2e: method === 'split' ? { BLEU: 0.5, NIST: 5, METEOR: 0.4, ROUGE_L: 0.6, CIDEr: 1.5 } : null, trainableParams: { client: 10, server: 20 },
    clientFlopsPerStep: 1e9, serverFlopsPerStep: 2e9, bytesPerClient: { up: 5000, down: 4000 }, modelDownloadBytes: 1e6, peakClientBytes: 2 ** 20, peakCentralBytes: null,
    modelled, modelledSeconds: modelled.totalSeconds, wallSeconds: 3, timeToTarget: { modelledSeconds: 1, wallSeconds: 2 }, speedup: {}, backends: ['wasm', 'wasm'], meanSeqLen: 40,
    phaseSeconds: { train: 3, heldout: 1.5, e2e: 2, memory: 0.25 },
  };
}

describe('svg', () => {
  it('ticks are round numbers that cover the range, labelled to their spacing', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3.2, 3.9)).toEqual([3.2, 3.4, 3.6, 3.8]);
    expect([24.6, 24.62, 24.64].map((v) => fmtTick(v, 0.02))).toEqual(['24.60', '24.62', '24.64']);
    expect(fmtTick(25_000)).toBe('25k');
  });

  it('draws one polyline per series and one bar per value', () => {
    const line = lineChart('t', 'x', 'y', [{ name: 'a', points: [[0, 1], [1, 0.5]] }, { name: 'b <&>', points: [[0, 1], [2, 0.2]] }]);
    expect(line.match(/<polyline/g)).toHaveLength(2);
    expect(line).toContain('b &lt;&amp;&gt;');
    expect(line.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const bars = barChart('t', 'y', ['up', 'down'], [{ label: 'A', values: [1, 2] }, { label: 'B', values: [3, 4] }]);
    expect(bars.match(/<rect x="[\d.]+" y="[\d.]+" width/g)).toHaveLength(4 + 2); // 4 bars + 2 legend swatches
  });
});

describe('writeBenchReport', () => {
  it('writes report.md, four plots, results.json and the CSVs', async () => {
    const methods = { cen: fakeReport('cen', [3, 2.5, 2.2]), split: fakeReport('split', [3, 2.4, 2.1]), fed: fakeReport('fed', [3, 2.6, 2.3]) };
    const target = defaultTarget(Object.values(methods));
    expect(target).toBeCloseTo(Math.exp(3 - 0.8 * (3 - 2.3)), 10); // 80% of the way to the worst best loss
    const r: BenchResult = { settings: tinySettings(), latency, targetPerplexity: target, targetSource: 'default', methods, losses: { cen: [[3, 2]], split: [[3, 2], [3, 1]], fed: [[3, 2], [3, 2]] } };
    const dir = join(tmp, 'run');
    const path = await writeBenchReport(dir, r, { command: 'splitlora bench --steps 4', modelId: 'tiny', config: PRESETS.nano, dataSource: 'synthetic', partition: 'iid', heldoutExamples: 10, backend: 'wasm', startedAt: 'now' });
    expect((await readdir(dir)).sort()).toEqual(['bytes.svg', 'client-cost.svg', 'curves.csv', 'loss-vs-steps.svg', 'loss-vs-time.svg', 'report.md', 'results.json', 'summary.csv', 'train-losses.csv']);
    const md = await readFile(path, 'utf8');
    for (const s of ['splitlora bench --steps 4', 'CenLoRA', 'Latency model', '--uplink-mbps', '![held-out loss vs. steps](loss-vs-steps.svg)', 'GPT-2 S and M']) expect(md).toContain(s);
    // Where the time went: one row per method, its phases and their sum.
    expect(md).toContain('Where the bench\'s time went');
    expect(md).toMatch(/^split\s+3\.00 s\s+1\.50 s\s+2\.00 s\s+250\.0 ms\s+6\.75 s$/m);
    expect((await readFile(join(dir, 'curves.csv'), 'utf8')).trim().split('\n')).toHaveLength(1 + 9);
    expect((await readFile(join(dir, 'train-losses.csv'), 'utf8')).trim().split('\n')).toHaveLength(1 + 10);
    expect((await readFile(join(dir, 'summary.csv'), 'utf8')).split('\n')[2]).toMatch(/^split,2\.1,/);
    expect(JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')).methods.split.e2e.BLEU).toBe(0.5);
    const json = jsonByMethod(r);
    expect(Object.keys(json)).toEqual(['cen', 'split', 'fed']);
    expect(json.split).toMatchObject({ finalHeldoutLoss: 2.1, timeToTarget: { targetPerplexity: target } });
  });
});

import { describe, expect, it } from 'vitest';
import { callsBetween, callsPerRound, medianRows, quantile, ratiosTo, scaleMarkdown, scaleText, summarizeSetup, volunteersPerNode, type ScaleResult, type SetupMeasurement } from './scale-report';

const single: SetupMeasurement = {
  nodes: 0, volunteers: 4, volunteersPerNode: [4], rounds: 3, steadyRounds: 2, steadySteps: 32, steadyTokens: 8000, steadySeconds: 4,
  roundMs: [2000, 2200], stepMs: [400, 500, 600, 700], redisBytes: null, redisCalls: null,
  cpuSeconds: { coordinator: 3.2, nodes: [], redis: null, volunteers: 0.8 }, startSeconds: 8, wallSeconds: 16,
};
const twoNodes: SetupMeasurement = {
  ...single, nodes: 2, volunteersPerNode: [2, 2], steadySeconds: 2.5, roundMs: [1000, 1400, 1200],
  redisBytes: { input: 240_000, output: 400_000 }, redisCalls: { publish: 24, xadd: 40, get: 6 }, cpuSeconds: { coordinator: 0.16, nodes: [1.8, 2.0], redis: 0.04, volunteers: 0.9 },
};

describe('bench-scale arithmetic', () => {
  it('quantile takes the nearest rank', () => {
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile(Array.from({ length: 100 }, (_, i) => i + 1), 0.99)).toBe(99);
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('per-round and per-volunteer figures of one setup', () => {
    const a = summarizeSetup(single);
    expect(a.setup).toBe('serve');
    expect(a.serverTokensPerSec).toBe(2000);
    expect(a.roundP50Ms).toBe(2000);
    expect(a.stepP50Ms).toBe(500);
    expect(a.stepP99Ms).toBe(700);
    expect(a.redisBytesPerRoundPerVolunteer).toBeNull();
    expect(a.coordinatorCpuMsPerRound).toBeCloseTo(1600, 9); // 3.2 s over 2 rounds
    expect(a.serverCpuMsPerStep).toBeCloseTo(100, 9); // the single server computes: 3.2 s / 32 steps
    const c = summarizeSetup(twoNodes);
    expect(c.setup).toBe('cluster-2');
    expect(c.redisBytesPerRound).toBe(320_000);
    expect(c.redisBytesPerRoundPerVolunteer).toBe(80_000); // 640 kB / 2 rounds / 4 volunteers
    expect(c.nodesCpuMsPerRound).toBeCloseTo(1900, 9);
    expect(c.serverCpuMsPerStep).toBeCloseTo(118.75, 9); // the nodes' 3.8 s / 32 steps, not the coordinator's
    expect(c.redisCpuMsPerRound).toBeCloseTo(20, 9);
    expect(() => summarizeSetup({ ...single, steadyRounds: 0 })).toThrow(/--rounds 3/);
  });

  it('Redis commands between two readings, per round, without the reader\'s own INFO', () => {
    const calls = callsBetween({ publish: 10, xadd: 5, info: 2, ping: 1 }, { publish: 34, xadd: 45, info: 5, ping: 1, get: 6 });
    expect(calls).toEqual({ publish: 24, xadd: 40, get: 6 });
    expect(callsPerRound(calls, 2)).toBe('xadd 20.0, publish 12.0, get 3.0');
    expect(callsPerRound(calls, 2, 1)).toBe('xadd 20.0');
  });

  it('ratios against the single serve, and volunteers per node at a pace', () => {
    const rows = [summarizeSetup(single), summarizeSetup(twoNodes)];
    const [self, other] = ratiosTo(rows[0], rows);
    expect(self).toEqual({ setup: 'serve', tokensPerSec: 1, roundP50: 1, stepP50: 1, coordinatorCpuPerRound: 1 });
    expect(other.tokensPerSec).toBeCloseTo(1.6, 9);
    expect(other.roundP50).toBeCloseTo(0.6, 9);
    expect(other.coordinatorCpuPerRound).toBeCloseTo(0.05, 9);
    expect(volunteersPerNode(100, 10)).toBe(100);
    expect(volunteersPerNode(2500, 10)).toBe(4);
  });

  it('repeats: per setup the median of each figure, and the median run for the details', () => {
    const slow = { ...twoNodes, steadySeconds: 5, cpuSeconds: { ...twoNodes.cpuSeconds, coordinator: 0.1 } };
    const fast = { ...twoNodes, steadySeconds: 2, cpuSeconds: { ...twoNodes.cpuSeconds, coordinator: 0.3 } };
    const { rows, detail } = medianRows([single, twoNodes, single, slow, fast]);
    expect(rows.map((r) => r.setup)).toEqual(['serve', 'cluster-2']);
    expect(rows[0]).toEqual(summarizeSetup(single));
    expect(rows[1].serverTokensPerSec).toBe(3200); // of 1600, 3200, 4000
    expect(rows[1].coordinatorCpuMsPerRound).toBeCloseTo(80, 9); // of 50, 80, 150: each figure on its own
    expect(rows[1].redisBytesPerRoundPerVolunteer).toBe(80_000);
    expect(detail).toEqual([single, twoNodes]);
    expect(medianRows([single]).rows[0].redisBytesPerRound).toBeNull();
  });

  it('the table and report.md carry every setup with its ratios', () => {
    const rows = [summarizeSetup(single), summarizeSetup(twoNodes)];
    const result: ScaleResult = {
      model: { id: 'm', layers: 3, dModel: 48, cut: 1 }, settings: { volunteers: 4, steps: 12, rounds: 3, interval: 4, batch: 4, seqLen: 64, wire: 'f16' },
      pace: 10, repeats: 1, rows, ratios: ratiosTo(rows[0], rows), baseline: 'serve', detail: [single, twoNodes], measurements: [single, twoNodes],
      machine: { cpus: 2, cpuModel: 'test cpu' }, command: 'splitlora bench-scale', startedAt: '2026-01-01T00:00:00.000Z',
    };
    const text = scaleText(result).split('\n');
    expect(text[0]).toMatch(/^setup\s+nodes\s+tok\/s/);
    expect(text[2]).toMatch(/^serve\s+0\s+2000\.0\s+1\.00/);
    expect(text[3]).toMatch(/^cluster-2\s+2\s+3200\.0\s+1\.60/);
    expect(text[3]).toContain('80.0'); // KB per round per volunteer
    const md = scaleMarkdown(result);
    expect(md).toContain('| cluster-2 | 2 | 3200.0 | 1.60 | 1,200 | 0.60 |');
    expect(md).toContain('| cluster-2 (coordinator + 2 nodes over Redis) | 2 + 2 | 120.0 / 200.0 | xadd 20.0, publish 12.0, get 3.0 |');
    expect(md).toContain('serves about 84 volunteers (server CPU 119 ms per step)');
  });
});

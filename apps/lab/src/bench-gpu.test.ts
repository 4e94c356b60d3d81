// bench-gpu on wasm with its --quick shapes: the cases compute real, finite numbers, the parent
// runs each in a child process and reports what it could not run, with the reason.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGpuBench, runGpuCaseChild } from './bench-gpu';
import { CLI_BIN, REPO_ROOT } from '../../../test/kit/paths';

const quiet = () => {};
const finitePositive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;
const tfjsNodeGpuInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node-gpu');
    return true;
  } catch {
    return false;
  }
})();

describe('bench-gpu cases (in this process, wasm, quick shapes)', () => {
  it('split: the step by part adds up and every time is finite', async () => {
    const r = await runGpuCaseChild('split', 'wasm', true, quiet);
    expect(r.ok, String(r.error)).toBe(true);
    expect(r.backend).toBe('wasm');
    expect(r.adapter).toBeNull();
    const s = r.result as Record<string, number>;
    for (const k of ['clientForwardMs', 'clientBackwardMs', 'serverMs', 'splitMs', 'unsplitMs', 'messageBytes']) expect(finitePositive(s[k]), k).toBe(true);
    expect(s.cut).toBe(1);
    expect(s.clientMs + s.serverMs + s.transportMs).toBeCloseTo(s.splitMs, 6);
  });

  it('an unknown case or backend is reported, not thrown', async () => {
    expect(await runGpuCaseChild('nope', 'wasm', true, quiet)).toMatchObject({ ok: false, stage: 'case' });
    const r = await runGpuCaseChild('model', 'no-such-backend', true, quiet);
    expect(r).toMatchObject({ ok: false, stage: 'backend' });
    expect(String(r.error)).toContain('unknown backend');
  });
});

describe('bench-gpu parent (children through the CLI)', () => {
  it('runs each case in a child within its budget share and reports the model rate against matmul', async () => {
    const report = await runGpuBench({
      backends: ['wasm', 'tensorflow-gpu'], quick: true, budgetS: 200, cases: ['model', 'throughput-1'],
      childPrefix: [join(REPO_ROOT, CLI_BIN), 'bench-gpu'], execArgv: [], log: quiet,
    });
    const backends = report.backends as { backend: string; available: boolean; reason?: string; cases: { case: string; status: string; budgetSeconds: number; seconds: number; result?: Record<string, any> }[] }[];
    const wasm = backends.find((b) => b.backend === 'wasm')!;
    expect(wasm.cases.map((c) => [c.case, c.status])).toEqual([['model', 'ok'], ['throughput-1', 'ok']]);
    // Shares of 200 s by weight (3 of 5 first, then all that is left), each honoured.
    expect(wasm.cases[0].budgetSeconds).toBeGreaterThanOrEqual(119);
    expect(wasm.cases[0].budgetSeconds).toBeLessThanOrEqual(120);
    expect(wasm.cases[1].budgetSeconds).toBeLessThanOrEqual(200 - wasm.cases[0].seconds);
    for (const c of wasm.cases) expect(c.seconds).toBeLessThanOrEqual(c.budgetSeconds);
    const m = wasm.cases[0].result!;
    for (const k of ['tokensPerSec', 'achievedGflops', 'matmulGflops', 'matmulRatio', 'chainedMatmulRatio']) expect(finitePositive(m[k]), k).toBe(true);
    expect(m.matmulRatio).toBeCloseTo(m.achievedGflops / m.matmulGflops, 9);
    expect(m.lossRows).toBe(16); // 2×16 with the first half of each sequence prompt
    const rows = wasm.cases[1].result!.rows as { clients: number; batching: boolean; tokensPerSec: number }[];
    expect(rows.map((r) => [r.clients, r.batching])).toEqual([[1, true], [1, false]]);
    for (const r of rows) expect(finitePositive(r.tokensPerSec)).toBe(true);
    const summary = report.summary as Record<string, Record<string, any>>;
    expect(summary.wasm.trainTokensPerSec).toBe(m.tokensPerSec);
    expect(summary.wasm.serverTokensPerSec[1].batched).toBe(rows[0].tokensPerSec);
    const tfGpu = backends.find((b) => b.backend === 'tensorflow-gpu')!;
    if (!tfjsNodeGpuInstalled) {
      expect(tfGpu.available).toBe(false);
      expect(tfGpu.reason).toContain('not installed');
      expect(tfGpu.cases).toEqual([]);
    }
  }, 240_000);

  it('rejects unknown backends and cases before starting anything', async () => {
    const base = { quick: true, budgetS: 60, childPrefix: [], log: quiet };
    await expect(runGpuBench({ ...base, backends: ['metal'] })).rejects.toThrow('unknown backend "metal"');
    await expect(runGpuBench({ ...base, backends: ['wasm'], cases: ['model', 'warp'] })).rejects.toThrow('unknown case warp');
  });
});

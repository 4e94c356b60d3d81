// The CLI on --backend webgpu (SwiftShader on CPU-only machines) against --backend wasm:
// `score` gives the same NLL, and a short SplitLoRA run over loopback sockets trains and
// follows the same losses. The model is as small as GPT-2's 50257-token vocabulary allows:
// SwiftShader is slow at the [N, 50257] matmuls of the head.
import { e2eTitle, findE2EFile } from '@splitlora/data/node';
import type { GPT2Config } from '@splitlora/model';
import { describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../kit/cli';
import { WEBGPU_SKIP, webgpuTitle } from '../support/webgpu';
import { useTempModel } from '../kit/temp';

const SMALL: GPT2Config = { vocabSize: 50257, nPositions: 64, nEmbd: 16, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
const valid = findE2EFile('lora-format/valid.txt');
const CLI_TIMEOUT_MS = 240_000;

function ok(r: CliRun): Record<string, any> {
  expect(r.code, r.stderr).toBe(0);
  expect(r.json, r.stdout).toBeDefined();
  return r.json;
}

describe.skipIf(WEBGPU_SKIP !== null)(webgpuTitle('splitlora on --backend webgpu matches --backend wasm'), () => {
  const fixture = useTempModel('webgpu-cli', SMALL, { seed: 1, wteStd: 0.5 });

  it.skipIf(!valid)(e2eTitle('score: the same examples, tokens and mean NLL within 1e-4', valid), async () => {
    const args = ['score', '--model', fixture.model(), '--data', valid!, '--format', 'e2e', '--limit', '2', '--batch', '2'];
    const [wasm, webgpu] = await Promise.all([runCli([...args, '--backend', 'wasm'], {}, CLI_TIMEOUT_MS), runCli([...args, '--backend', 'webgpu'], {}, CLI_TIMEOUT_MS)]);
    const w = ok(wasm), g = ok(webgpu);
    expect(webgpu.stderr).toMatch(/tfjs backend: webgpu \(requested; adapter vendor \S+/);
    expect(g.examples).toBe(2);
    expect(g.tokens).toBe(w.tokens);
    expect(Number.isFinite(w.meanNll)).toBe(true);
    expect(Math.abs(g.meanNll - w.meanNll)).toBeLessThan(1e-4);
  }, 300_000);

  it('simulate --in-process: a split run over sockets trains, with the losses wasm gives', async () => {
    // Two steps of batch 2 (one aggregation), f32 on the wire so both backends see the same bytes.
    const args = ['simulate', '--model', fixture.model(), '--in-process', '--clients', '1', '--steps', '2', '--interval', '2', '--batch', '2', '--seq-len', '16',
      '--lr', '1e-2', '--examples', '40', '--heldout', '1', '--wire', 'f32', '--json'];
    const [wasm, webgpu] = await Promise.all([runCli([...args, '--backend', 'wasm'], {}, CLI_TIMEOUT_MS), runCli([...args, '--backend', 'webgpu'], {}, CLI_TIMEOUT_MS)]);
    const w = ok(wasm), g = ok(webgpu);
    expect(g).toMatchObject({ method: 'split', clients: 1, steps: 2, aggregations: 1, backends: ['webgpu'] });
    for (const k of ['initialLoss', 'finalLoss', 'heldoutLoss']) expect(Number.isFinite(g[k]), k).toBe(true);
    expect(g.finalLoss).toBeLessThan(g.initialLoss);
    for (const k of ['initialLoss', 'finalLoss', 'heldoutLoss']) expect(Math.abs(g[k] - w[k]), k).toBeLessThan(1e-4);
  }, 300_000);
});

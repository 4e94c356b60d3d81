// simulate --out writes the final adapter as a PEFT directory that `attack --adapter` reads: the
// attack after a training run, with the defences on during training.
import { join } from 'node:path';
import type { GPT2Config } from '@splitlora/model';
import { loadAdapterDir } from '@splitlora/model/node';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../../test/kit/cli';
import { useTempModel } from '../../../../test/kit/temp';

const cfg: GPT2Config = { vocabSize: 50257, nPositions: 64, nEmbd: 32, nLayer: 3, nHead: 2, layerNormEps: 1e-5 };

describe('splitlora simulate --out, then attack --adapter', () => {
  const fixture = useTempModel('simulate-out', cfg, { seed: 0, wteStd: 0.5 });

  it('writes the trained adapter (client average + server) that the attack loads', { timeout: 120_000 }, async () => {
    const out = join(fixture.dir(), 'adapter');
    const sim = await runCli(['simulate', '--model', fixture.model(), '--clients', '2', '--steps', '4', '--interval', '2', '--batch', '2', '--seq-len', '24', '--examples', '24', '--heldout', '4',
      '--lr', '5e-3', '--act-clip', '3', '--act-noise', '0.1', '--backend', 'wasm', '--out', out, '--json']);
    expect(sim.code, sim.stderr).toBe(0);
    expect(sim.json.aggregations).toBe(2);
    expect(sim.stderr).toContain(`final adapter written to ${out}`);
    const { lora, cfg: loraCfg } = await loadAdapterDir(out);
    expect(loraCfg).toMatchObject({ r: 4, alpha: 32, dropout: 0.1, targets: ['q', 'v'] });
    for (let b = 0; b < cfg.nLayer; b++) for (const t of ['q', 'v']) expect(lora, `block ${b} ${t}`).toHaveProperty(`h.${b}.${t}.lora_B`);
    expect(Object.entries(lora).some(([k, t]) => k.startsWith('h.0.') && k.endsWith('lora_B') && t.data.some((x) => x !== 0))).toBe(true); // the client part trained

    const [known, fresh] = await Promise.all([
      runCli(['attack', '--model', fixture.model(), '--cut', '1', '--adapter', out, '--limit', '1', '--seq-len', '24', '--max-candidates', '256', '--backend', 'wasm', '--json']),
      runCli(['attack', '--model', fixture.model(), '--cut', '1', '--adapter', out, '--attacker-fresh', '--limit', '1', '--seq-len', '24', '--max-candidates', '256', '--backend', 'wasm', '--json']),
    ]);
    expect(known.code, known.stderr).toBe(0);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(known.stderr).toContain('attacker assumes it');
    expect(fresh.stderr).toContain('attacker assumes the fresh init');
    expect(known.json.recoveryRate).toBeGreaterThanOrEqual(0.9);
    expect(fresh.json.tokens).toBe(known.json.tokens);
  });
});

import { join } from 'node:path';
import { initLora, type GPT2Config, type LoraConfig } from '@splitlora/model';
import { saveAdapterDir } from '@splitlora/model/node';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../../test/kit/cli';
import { useTempModel } from '../../../../test/kit/temp';

const cfg: GPT2Config = { vocabSize: 50257, nPositions: 64, nEmbd: 32, nLayer: 3, nHead: 2, layerNormEps: 1e-5 };
const FIELDS = ['cut', 'examples', 'tokens', 'recovered', 'recoveryRate', 'completionRecoveryRate', 'noise', 'clip', 'secondsPerExample'];

describe('splitlora attack', () => {
  const fixture = useTempModel('attack', cfg, { seed: 0, wteStd: 0.02 });
  const base = () => ['attack', '--model', fixture.model(), '--limit', '2', '--seq-len', '24', '--backend', 'wasm', '--json'];

  it('--json: recovers the synthetic text at cut 1 and 2; strong noise hides it', async () => {
    const [cut1, cut2, noisy] = await Promise.all([
      runCli([...base(), '--cut', '1', '--wire', 'f32']),
      runCli([...base(), '--cut', '2']),
      runCli([...base(), '--cut', '1', '--act-noise', '1', '--act-clip', '2', '--max-candidates', '32']),
    ]);
    for (const r of [cut1, cut2, noisy]) {
      expect(r.code, r.stderr).toBe(0);
      for (const f of FIELDS) expect(r.json, f).toHaveProperty(f);
      expect(r.json.examples).toBe(2);
      expect(r.json.recovered).toBeLessThanOrEqual(r.json.tokens);
      expect(r.json.recoveryRate).toBeCloseTo(r.json.recovered / r.json.tokens, 12);
      expect(r.json.completionRecoveryRate).toBeCloseTo(r.json.completionRecovered / r.json.completionTokens, 12);
    }
    expect(cut1.json).toMatchObject({ cut: 1, wire: 'f32', noise: 0, clip: null });
    expect(cut2.json).toMatchObject({ cut: 2, wire: 'f16' }); // the run's default wire
    expect(cut1.json.recoveryRate).toBeGreaterThanOrEqual(0.95);
    expect(cut2.json.recoveryRate).toBeGreaterThanOrEqual(0.95);
    expect(noisy.json).toMatchObject({ noise: 1, clip: 2 });
    // σ = 1 against rows clipped to norm 2 (≈0.35 per element at d = 32): chance level.
    expect(noisy.json.recoveryRate).toBeLessThanOrEqual(0.05);
    expect(cut1.stderr).toContain('attack: recovered');
  });

  it('--adapter: the attacker who knows the average recovers the text', async () => {
    const lora: LoraConfig = { r: 4, alpha: 32, dropout: 0.1, targets: ['q', 'v'] };
    const adapter = initLora(cfg, lora, 0, cfg.nLayer, 5);
    for (const [k, t] of Object.entries(adapter)) if (k.endsWith('lora_B')) t.data = t.data.map((_, j) => Math.cos(j) * 0.05);
    await saveAdapterDir(join(fixture.dir(), 'adapter'), adapter, lora);
    const r = await runCli([...base(), '--cut', '1', '--adapter', join(fixture.dir(), 'adapter'), '--max-candidates', '256']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('attacker assumes it');
    expect(r.json.recoveryRate).toBeGreaterThanOrEqual(0.9);
  });

  it('errors: a cut the model cannot split at, --attacker-fresh alone, a missing adapter', async () => {
    const [cut, fresh, missing] = await Promise.all([
      runCli([...base(), '--cut', '3']),
      runCli([...base(), '--attacker-fresh']),
      runCli([...base(), '--adapter', join(fixture.dir(), 'nope')]),
    ]);
    expect(cut.code).not.toBe(0);
    expect(cut.stderr).toContain('--cut 3: the model has 3 blocks');
    expect(fresh.code).not.toBe(0);
    expect(fresh.stderr).toContain('--attacker-fresh needs --adapter');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`adapter directory not found: ${join(fixture.dir(), 'nope')}`);
    for (const r of [cut, fresh, missing]) expect(r.stdout).toBe('');
  });
});

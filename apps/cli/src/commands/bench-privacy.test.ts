import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GPT2Config } from '@splitlora/model';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../../test/kit/cli';
import { useTempModel } from '../../../../test/kit/temp';

const cfg: GPT2Config = { vocabSize: 50257, nPositions: 64, nEmbd: 32, nLayer: 3, nHead: 2, layerNormEps: 1e-5 };

describe('splitlora bench-privacy', () => {
  const fixture = useTempModel('bench-privacy', cfg, { seed: 0, wteStd: 0.5 });

  it('--quick writes report.md, the SVGs and privacy.json: recovery vs cut and σ, held-out loss vs σ, the frontier', { timeout: 120_000 }, async () => {
    const out = join(fixture.dir(), 'out');
    const r = await runCli(['bench-privacy', '--quick', '--model', fixture.model(), '--cuts', '1,2', '--sigmas', '0,4', '--max-candidates', '32', '--seq-len', '24',
      '--clients', '2', '--steps', '4', '--interval', '2', '--batch', '2', '--heldout', '4', '--examples', '24', '--backend', 'wasm', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(await readFile(join(out, 'privacy.json'), 'utf8'));
    expect(j.meta).toMatchObject({ layers: 3, dModel: 32, backend: 'wasm' });
    expect(j.options).toMatchObject({ cuts: [1, 2], sigmas: [0, 4], clip: 1, limit: 1, trainCuts: [1] });

    // Attacks: cut × (no clip, clip) × σ, each with its σ scaled by that cut's clean RMS.
    expect(j.attacks).toHaveLength(2 * 2 * 2);
    for (const a of j.attacks) {
      for (const f of ['cut', 'sigmaRms', 'noise', 'clipRms', 'clip', 'tokens', 'recovered', 'recoveryRate', 'completionRecoveryRate', 'activationRms']) expect(a, f).toHaveProperty(f);
      expect(a.noise).toBeCloseTo(a.sigmaRms * a.activationRms, 9);
      if (a.clipRms !== null) expect(a.clip).toBeCloseTo(a.clipRms * a.activationRms * Math.sqrt(32), 9);
      expect(a.recoveryRate).toBeCloseTo(a.recovered / a.tokens, 12);
      // The attack works without noise, and σ = 4 × RMS defeats it (32 candidates: chance is ≈ 3 %).
      if (a.sigmaRms === 0) expect(a.recoveryRate, `cut ${a.cut} clip ${a.clip}`).toBeGreaterThanOrEqual(0.95);
      else expect(a.recoveryRate, `cut ${a.cut} clip ${a.clip}`).toBeLessThanOrEqual(0.2);
    }

    // Training: one run per (clip, σ) at the default cut, and the U-shape at σ = 0 and 4, scored against the same base.
    expect(j.training).toHaveLength(6);
    expect(j.training.filter((t: { labels: string }) => t.labels === 'client').map((t: { sigmaRms: number }) => t.sigmaRms)).toEqual([0, 4]);
    const base = j.training[0].baseHeldoutLoss;
    for (const t of j.training) {
      expect(t.cut).toBe(1);
      expect(t.baseHeldoutLoss).toBe(base);
      expect(Number.isFinite(t.heldoutLoss)).toBe(true);
      expect(t.recoveryRate).toBe(j.attacks.find((a: typeof t) => a.cut === t.cut && a.sigmaRms === t.sigmaRms && a.clipRms === t.clipRms).recoveryRate);
      expect(t.protects).toBe(t.recoveryRate <= 0.1);
    }
    const plain = j.training.find((t: { sigmaRms: number; clipRms: number | null }) => t.sigmaRms === 0 && t.clipRms === null);
    expect(plain.heldoutLoss).toBeLessThan(base); // it trained
    expect(plain.gainShare).toBe(1);
    // The U-shape moves the loss into the page; without noise it trains the same model.
    const u = j.training.find((t: { sigmaRms: number; labels: string }) => t.sigmaRms === 0 && t.labels === 'client');
    expect(Math.abs(u.heldoutLoss - plain.heldoutLoss)).toBeLessThan(1e-3 * Math.abs(plain.heldoutLoss));
    expect(j.training.every((t: { hidesCompletions: boolean; protects: boolean; labels: string }) => t.hidesCompletions === (t.protects && t.labels === 'client'))).toBe(true);
    expect(j.frontier.length).toBeGreaterThan(0);
    expect(typeof j.verdict.text).toBe('string');

    const md = await readFile(join(out, 'report.md'), 'utf8');
    for (const h of ['## What the server can learn, by configuration', '## Token recovery vs. cut', '## Held-out loss vs. σ', '## The privacy/utility frontier', '## Verdict']) expect(md).toContain(h);
    expect(md).toContain('labels in the page (U-shape');
    expect(md).toContain('Measured cost of the U-shape at cut 1');
    expect(md).toContain(j.verdict.text);
    for (const svg of ['recovery-vs-cut.svg', 'loss-vs-sigma.svg', 'frontier.svg']) {
      const text = await readFile(join(out, svg), 'utf8');
      expect(text.startsWith('<svg'), svg).toBe(true);
      expect(text).toContain('<polyline');
    }
    expect(r.json).toHaveProperty('verdict', j.verdict.text);
    expect(r.json.attacks).toHaveLength(8);
  });

  it('rejects the fixed-defence flags and bad lists', { timeout: 60_000 }, async () => {
    const [a, b, c] = await Promise.all([
      runCli(['bench-privacy', '--model', fixture.model(), '--act-noise', '1', '--out', join(fixture.dir(), 'x')]),
      runCli(['bench-privacy', '--model', fixture.model(), '--sigmas', '0,-1', '--out', join(fixture.dir(), 'x')]),
      runCli(['bench-privacy', '--model', fixture.model(), '--cuts', '3', '--no-train', '--out', join(fixture.dir(), 'x')]),
    ]);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain('use --sigmas and --clip');
    expect(b.code).toBe(1);
    expect(b.stderr).toContain('--sigmas');
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('cuts must be in 1..2');
  });
});

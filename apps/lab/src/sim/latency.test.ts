// The latency model and the FLOP split against figures worked out by hand.
import { describe, expect, it } from 'vitest';
import { PRESETS, type GPT2Config } from '@splitlora/model';
import { blockFlops, messageSizes, stepFlops } from '../cost-model';
import { DEFAULT_LATENCY, latencyParams, modelledTime, modelledTimeAt, timeToTarget, type MethodWork } from './latency';

// 1 TFLOP/s clients, 40 TFLOP/s server, 2 TFLOP/s central machine, 20 / 100 Mbit/s, 50 ms.
const p = latencyParams({ clientTflops: 1, serverTflops: 40, centralTflops: 2, uplinkMbps: 20, downlinkMbps: 100, rttMs: 50 });
const base = { clients: 3, steps: 20, interval: 5, clientStepFlops: 0, serverStepFlops: 0, stepUpBytes: 0, stepDownBytes: 0, aggUpBytes: 0, aggDownBytes: 0 };

describe('modelledTime', () => {
  it('SplitLoRA: client compute + 3 clients on the server + activations up + gradients down + RTT per step; adapters every 5 steps', () => {
    const w: MethodWork = { ...base, method: 'split', clientStepFlops: 2e9, serverStepFlops: 8e9, stepUpBytes: 250_000, stepDownBytes: 125_000, aggUpBytes: 40_000, aggDownBytes: 40_000 };
    const t = modelledTime(w, p);
    // step = 2e9/1e12 + 3·8e9/40e12 + 250 000·8/20e6 + 125 000·8/100e6 + 0.05 = 0.002 + 0.0006 + 0.1 + 0.01 + 0.05
    expect(t.clientComputeSeconds).toBeCloseTo(0.002, 12);
    expect(t.serverComputeSeconds).toBeCloseTo(0.0006, 12);
    expect(t.commSeconds).toBeCloseTo(0.16, 12);
    expect(t.stepSeconds).toBeCloseTo(0.1626, 12);
    // aggregation = 40 000·8/20e6 + 40 000·8/100e6 + 0.05 = 0.016 + 0.0032 + 0.05
    expect(t.aggregationSeconds).toBeCloseTo(0.0692, 12);
    // total = 20 steps + 4 aggregations = 3.252 + 0.2768
    expect(t.totalSeconds).toBeCloseTo(3.5288, 12);
    // 30 batches over 3 clients = 10 local steps = 2 rounds: 10·0.1626 + 2·0.0692
    expect(modelledTimeAt(w, t, 30)).toBeCloseTo(1.7644, 12);
    expect(modelledTimeAt(w, t, 60)).toBeCloseTo(t.totalSeconds, 12);
  });

  it('FedLoRA: whole-model compute per step, whole adapter every 5 steps', () => {
    const w: MethodWork = { ...base, method: 'fed', clientStepFlops: 10e9, aggUpBytes: 200_000, aggDownBytes: 200_000 };
    const t = modelledTime(w, p);
    expect(t.stepSeconds).toBeCloseTo(0.01, 12); // 10e9 / 1e12
    expect(t.aggregationSeconds).toBeCloseTo(0.146, 12); // 0.08 + 0.016 + 0.05
    expect(t.totalSeconds).toBeCloseTo(0.784, 12); // 20·0.01 + 4·0.146
    expect(modelledTimeAt(w, t, 15)).toBeCloseTo(0.196, 12); // 5 local steps, 1 round: 0.05 + 0.146
  });

  it('CenLoRA: all 3·20 steps one after another on the central machine, no communication', () => {
    const w: MethodWork = { ...base, method: 'cen', serverStepFlops: 10e9 };
    const t = modelledTime(w, p);
    expect(t.stepSeconds).toBeCloseTo(0.005, 12); // 10e9 / 2e12
    expect(t.totalSeconds).toBeCloseTo(0.3, 12);
    expect(modelledTimeAt(w, t, 30)).toBeCloseTo(0.15, 12);
  });

  it('has named defaults in the units of the flags', () => {
    const d = latencyParams({ ...DEFAULT_LATENCY, centralTflops: DEFAULT_LATENCY.clientTflops });
    expect(d).toEqual({ clientFlops: 0.5e12, serverFlops: 20e12, centralFlops: 0.5e12, uplinkBps: 20e6, downlinkBps: 100e6, rttSeconds: 0.05 });
  });
});

describe('timeToTarget', () => {
  const pts = [{ seconds: 0, perplexity: 100 }, { seconds: 10, perplexity: 50 }, { seconds: 20, perplexity: 20 }];
  it('interpolates linearly between the checkpoints around the crossing', () => {
    expect(timeToTarget(pts, 30)).toBeCloseTo(10 + (20 / 30) * 10, 12);
    expect(timeToTarget(pts, 50)).toBe(10);
    expect(timeToTarget(pts, 200)).toBe(0);
    expect(timeToTarget(pts, 10)).toBeNull();
  });
});

describe('FLOPs per step', () => {
  // d = 4, 2 blocks, V = 10, LoRA r = 1 on q, B = 1, T = 2 (N = 2 tokens). Per block:
  //   linear 24·N·d² = 768, attention 4·N·T·d = 64, LoRA 2·N·r·(d + d) = 32; head 2·N·d·V = 160.
  const cfg: GPT2Config = { vocabSize: 10, nPositions: 8, nEmbd: 4, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
  const lora = { r: 1, alpha: 1, dropout: 0, targets: ['q' as const] };
  it('matches the hand count for each method', () => {
    // one block: forward 768 + 64 + 32 = 864; backward 768 + 2·64 + 2·32 = 960
    expect(blockFlops(cfg, lora, 1, 1, 2)).toEqual({ forward: 864, backward: 960 });
    // whole model: forward 2·864 + 160, backward 2·960 + 160
    expect(stepFlops('fed', cfg, lora, 1, 1, 2)).toEqual({ client: 3968, server: 0 });
    expect(stepFlops('cen', cfg, lora, 1, 1, 2)).toEqual({ client: 0, server: 3968 });
    // split at 1: client = forward twice (the recompute) + backward = 2·864 + 960; server = one block + head both ways
    expect(stepFlops('split', cfg, lora, 1, 1, 2)).toEqual({ client: 2688, server: 864 + 160 + 960 + 160 });
  });

  it('SplitLoRA moves all but the client blocks off the client on GPT-2 S', () => {
    const l = { r: 4, alpha: 32, dropout: 0.1, targets: ['q' as const, 'v' as const] };
    const full = stepFlops('fed', PRESETS.gpt2, l, 3, 8, 128).client;
    const split = stepFlops('split', PRESETS.gpt2, l, 3, 8, 128);
    const c = blockFlops(PRESETS.gpt2, l, 3, 8, 128);
    expect(split.client - c.forward + split.server).toBeCloseTo(full, 0); // nothing lost but the recompute
    expect(split.client / full).toBeLessThan(0.3); // 3 of 12 blocks, forward twice, no LM head
  });
});

describe('messageSizes', () => {
  it('frames activations and gradients at B·T·d·bytes + a small header, per wire format', () => {
    const cfg = PRESETS.nano; // d = 48
    const lora = { r: 4, alpha: 32, dropout: 0.1, targets: ['q' as const, 'v' as const] };
    for (const [wire, bytes] of [['f32', 4], ['f16', 2]] as const) {
      const m = messageSizes('split', cfg, lora, 1, 8, 50, wire);
      const payload = 8 * 50 * 48 * bytes;
      expect(m.stepUp).toBeGreaterThan(payload + 8 * 50 * 8); // + int32 targets and float32 mask
      expect(m.stepUp).toBeLessThan(payload + 8 * 50 * 8 + 400);
      expect(m.stepDown).toBeGreaterThan(payload);
      expect(m.stepDown).toBeLessThan(payload + 400);
    }
    // adapters: one client block, q and v: 2·(48·4 + 4·48) float32 values
    const a = messageSizes('split', cfg, lora, 1, 8, 50, 'f16');
    expect(a.aggUp).toBeGreaterThan(4 * 2 * (48 * 4 + 4 * 48));
    expect(a.aggUp).toBeLessThan(4 * 2 * (48 * 4 + 4 * 48) + 600);
    expect(messageSizes('fed', cfg, lora, 1, 8, 50, 'f16').aggUp).toBeGreaterThan(4 * 3 * 2 * (48 * 4 + 4 * 48));
    expect(messageSizes('cen', cfg, lora, 1, 8, 50, 'f16')).toEqual({ stepUp: 0, stepDown: 0, aggUp: 0, aggDown: 0 });
  });
});

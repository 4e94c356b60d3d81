import { describe, expect, it } from 'vitest';
import { checkActivations, checkAdapter, checkClientState } from './checks';
import { ProtocolError } from './errors';
import type { ActivationsMessage, AdapterMessage, ClientState } from './messages';
import { encodeTensor, type WireFormat } from './wire';
import { codeOf } from '../../../test/kit/protocol';


const B = 2;
const T = 3;
const D = 4;
const limits = { dModel: D, maxBatch: 8, maxSeqLen: 16, vocabSize: 50 };

function acts(fmt: WireFormat = 'f32', patch: Partial<ActivationsMessage> = {}): ActivationsMessage {
  const data = new Float32Array(B * T * D).map((_, i) => Math.cos(i));
  return {
    v: 1,
    runId: 'r',
    step: 1,
    round: 0,
    batch: B,
    seqLen: T,
    acts: encodeTensor({ shape: [B, T, D], data }, fmt),
    targets: new Int32Array([1, 2, 3, 4, 5, 6]),
    mask: new Float32Array([0, 1, 1, 0, 1, 1]),
    ...patch,
  };
}

describe('checkActivations', () => {
  it('accepts consistent messages in every wire format', () => {
    for (const fmt of ['f32', 'f16', 'int8'] as WireFormat[]) expect(() => checkActivations(acts(fmt), limits)).not.toThrow();
    // Padding positions (mask 0) may hold any target id.
    expect(() => checkActivations(acts('f32', { targets: new Int32Array([-100, 2, 3, 99999, 5, 6]) }), limits)).not.toThrow();
  });

  it('E_TOO_LARGE when batch or seqLen exceed the run', () => {
    expect(codeOf(() => checkActivations(acts(), { ...limits, maxBatch: 1 }))).toBe('E_TOO_LARGE');
    expect(codeOf(() => checkActivations(acts(), { ...limits, maxSeqLen: 2 }))).toBe('E_TOO_LARGE');
  });

  it('E_SHAPE for a shape that disagrees with batch, seqLen, dModel or the data', () => {
    expect(codeOf(() => checkActivations(acts(), { ...limits, dModel: 8 }))).toBe('E_SHAPE');
    expect(codeOf(() => checkActivations(acts('f32', { batch: 1 }), limits))).toBe('E_SHAPE');
    const m = acts();
    m.acts = { ...m.acts, data: new Float32Array(B * T * D - 1) } as typeof m.acts;
    expect(codeOf(() => checkActivations(m, limits))).toBe('E_SHAPE');
    expect(codeOf(() => checkActivations(acts('f32', { targets: new Int32Array(5) }), limits))).toBe('E_SHAPE');
    expect(codeOf(() => checkActivations(acts('f32', { mask: new Uint8Array(7) }), limits))).toBe('E_SHAPE');
    const q = acts('int8');
    if (q.acts.fmt === 'int8') q.acts.scale = new Float32Array(5);
    expect(codeOf(() => checkActivations(q, limits))).toBe('E_SHAPE');
  });

  it('E_NONFINITE for NaN/Inf in activations or mask', () => {
    const f = acts('f32');
    (f.acts.data as Float32Array)[7] = NaN;
    expect(codeOf(() => checkActivations(f, limits))).toBe('E_NONFINITE');
    const h = acts('f16');
    (h.acts.data as Uint16Array)[3] = 0xfc00; // -Inf
    expect(codeOf(() => checkActivations(h, limits))).toBe('E_NONFINITE');
    const q = acts('int8');
    if (q.acts.fmt === 'int8') q.acts.scale[1] = Infinity;
    expect(codeOf(() => checkActivations(q, limits))).toBe('E_NONFINITE');
    expect(codeOf(() => checkActivations(acts('f32', { mask: new Float32Array([NaN, 1, 1, 1, 1, 1]) }), limits))).toBe(
      'E_NONFINITE',
    );
  });

  it('E_RANGE for bad token ids, mask values and an empty mask', () => {
    expect(codeOf(() => checkActivations(acts('f32', { targets: new Int32Array([1, 50, 3, 4, 5, 6]) }), limits))).toBe('E_RANGE');
    expect(codeOf(() => checkActivations(acts('f32', { targets: new Int32Array([1, -1, 3, 4, 5, 6]) }), limits))).toBe('E_RANGE');
    expect(codeOf(() => checkActivations(acts('f32', { mask: new Float32Array([0, 2, 1, 0, 1, 1]) }), limits))).toBe('E_RANGE');
    expect(codeOf(() => checkActivations(acts('f32', { mask: new Uint8Array(6) }), limits))).toBe('E_RANGE');
  });
});

describe('checkAdapter', () => {
  const expected = { 'h.0.q.lora_A': [4, 2], 'h.0.q.lora_B': [2, 4] };
  const lim = { maxNorm: 100 };

  function adapter(patch: Partial<AdapterMessage> = {}): AdapterMessage {
    return {
      v: 1,
      runId: 'r',
      round: 1,
      examples: 10,
      tensors: {
        'h.0.q.lora_A': { shape: [4, 2], data: new Float32Array(8).fill(0.5) },
        'h.0.q.lora_B': { shape: [2, 4], data: new Float32Array(8) },
      },
      ...patch,
    };
  }

  it('accepts an upload matching the expected names and shapes', () => {
    expect(() => checkAdapter(adapter(), expected, lim)).not.toThrow();
  });

  it('E_SHAPE naming missing, extra and misshapen tensors', () => {
    const a = adapter();
    delete a.tensors['h.0.q.lora_B'];
    a.tensors['h.9.q.lora_A'] = { shape: [4, 2], data: new Float32Array(8) };
    let err: ProtocolError | undefined;
    try {
      checkAdapter(a, expected, lim);
    } catch (e) {
      err = e as ProtocolError;
    }
    expect(err?.code).toBe('E_SHAPE');
    expect(err?.message).toMatch(/missing "h\.0\.q\.lora_B"/);
    expect(err?.message).toMatch(/unexpected "h\.9\.q\.lora_A"/);

    const b = adapter();
    b.tensors['h.0.q.lora_A'] = { shape: [2, 4], data: new Float32Array(8) };
    expect(() => checkAdapter(b, expected, lim)).toThrow(/lora_A.*\[2, 4\] should be \[4, 2\]/);
    const c = adapter();
    c.tensors['h.0.q.lora_A'] = { shape: [4, 2], data: new Float32Array(7) };
    expect(codeOf(() => checkAdapter(c, expected, lim))).toBe('E_SHAPE');
  });

  it('E_NONFINITE for NaN/Inf, E_RANGE for absurd norms and example counts', () => {
    const a = adapter();
    a.tensors['h.0.q.lora_B'].data[2] = NaN;
    expect(codeOf(() => checkAdapter(a, expected, lim))).toBe('E_NONFINITE');
    const b = adapter();
    b.tensors['h.0.q.lora_A'].data[0] = 1e6;
    expect(codeOf(() => checkAdapter(b, expected, lim))).toBe('E_RANGE');
    expect(codeOf(() => checkAdapter(adapter({ examples: 0 }), expected, lim))).toBe('E_RANGE');
    expect(codeOf(() => checkAdapter(adapter({ examples: 11 }), expected, { ...lim, maxExamples: 10 }))).toBe('E_RANGE');
  });
});

describe('checkClientState', () => {
  const expected = { 'h.0.q.lora_A': [4, 2], 'h.0.q.lora_B': [2, 4] };
  function state(): ClientState {
    const rec = (x: number) => ({
      'h.0.q.lora_A': { shape: [4, 2], data: new Float32Array(8).fill(x) },
      'h.0.q.lora_B': { shape: [2, 4], data: new Float32Array(8).fill(x) },
    });
    return { step: 6, optimizer: { step: 6, m: rec(-0.01), v: rec(1e-4) }, dataOrder: { epoch: 0, cursor: 6, seed: 1, examples: 10, fingerprint: 'abc' } };
  }

  it('accepts moments that match the adapter and an order that fits the data', () => {
    expect(() => checkClientState(state(), expected, 10)).not.toThrow();
  });

  it('E_SHAPE for moments that miss, add or misshape a tensor', () => {
    const a = state();
    delete a.optimizer.m['h.0.q.lora_B'];
    expect(() => checkClientState(a, expected, 10)).toThrow(/optimizer\.m: missing "h\.0\.q\.lora_B"/);
    const b = state();
    b.optimizer.v['h.0.q.lora_A'] = { shape: [2, 4], data: new Float32Array(8) };
    expect(codeOf(() => checkClientState(b, expected, 10))).toBe('E_SHAPE');
  });

  it('E_NONFINITE for NaN moments, E_RANGE for negative v or an order that does not fit', () => {
    const a = state();
    a.optimizer.m['h.0.q.lora_A'].data[3] = Infinity;
    expect(codeOf(() => checkClientState(a, expected, 10))).toBe('E_NONFINITE');
    const b = state();
    b.optimizer.v['h.0.q.lora_B'].data[0] = -1e-9;
    expect(codeOf(() => checkClientState(b, expected, 10))).toBe('E_RANGE');
    expect(codeOf(() => checkClientState(state(), expected, 9))).toBe('E_RANGE');
    const c = state();
    c.dataOrder.cursor = 10;
    expect(codeOf(() => checkClientState(c, expected, 10))).toBe('E_RANGE');
  });

  it('is part of checkAdapter when the upload carries a state', () => {
    const s = state();
    s.optimizer.v['h.0.q.lora_A'].data[1] = NaN;
    const msg: AdapterMessage = {
      v: 1, runId: 'r', round: 1, examples: 10, state: s,
      tensors: { 'h.0.q.lora_A': { shape: [4, 2], data: new Float32Array(8) }, 'h.0.q.lora_B': { shape: [2, 4], data: new Float32Array(8) } },
    };
    expect(codeOf(() => checkAdapter(msg, expected, { maxNorm: 100 }))).toBe('E_NONFINITE');
  });
});

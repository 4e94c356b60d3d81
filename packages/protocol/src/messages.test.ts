import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors';
import { PROTOCOL_VERSION, validate, type ActivationsMessage, type MessageName } from './messages';
import { Decoder, Encoder, PacketType, type Packet } from './parser';
import { encodeTensor } from './wire';
import { codeOf } from '../../../test/kit/protocol';


const hello = {
  v: PROTOCOL_VERSION,
  backend: 'webgl',
  userAgent: 'test',
  examples: 100,
  wireFormats: ['f32', 'f16'],
};

function activations(): ActivationsMessage {
  const data = new Float32Array(2 * 3 * 4).map((_, i) => i / 10);
  return {
    v: PROTOCOL_VERSION,
    runId: 'run-1',
    step: 0,
    round: 0,
    batch: 2,
    seqLen: 3,
    acts: encodeTensor({ shape: [2, 3, 4], data }, 'f16'),
    targets: new Int32Array(6).fill(5),
    mask: new Uint8Array([0, 1, 1, 0, 1, 1]),
  };
}

describe('validate', () => {
  it('accepts well-formed messages of both directions', () => {
    const h = validate('hello', hello);
    expect(h.examples).toBe(100);
    expect(validate('hello', { ...hello, clientId: 'c1', resumeToken: 'secret' }).clientId).toBe('c1');
    expect(validate('activations', activations()).acts.fmt).toBe('f16');
    const adapter = {
      v: 1,
      runId: 'run-1',
      round: 3,
      examples: 10,
      tensors: { 'h.0.q.lora_A': { shape: [4, 2], data: new Float32Array(8) } },
    };
    expect(validate('adapter', adapter).round).toBe(3);
    const moments = { 'h.0.q.lora_A': { shape: [4, 2], data: new Float32Array(8) } };
    const state = { step: 7, optimizer: { step: 7, m: moments, v: moments }, dataOrder: { epoch: 1, cursor: 2, seed: 3, examples: 10, fingerprint: 'f00d' } };
    expect(validate('adapter', { ...adapter, state }).state?.dataOrder.cursor).toBe(2);
    const config = {
      modelId: 'gpt2',
      dModel: 768,
      cut: 3,
      lora: { r: 4, alpha: 32, dropout: 0.1, targets: ['q', 'v'] },
      batch: 8,
      seqLen: 512,
      interval: 33,
      wire: { acts: 'f32', grad: 'f32' },
      lr: 2e-4,
      seed: 1,
    };
    const welcome = { v: 1, clientId: 'c1', resumeToken: 't', resumed: false, runId: 'run-1', round: 0, config };
    expect(validate('welcome', welcome).config.lora.r).toBe(4);
    expect(validate('welcome', { ...welcome, resumed: true, state }).state?.optimizer.step).toBe(7);
    expect(validate('error', { v: 1, code: 'E_SHAPE', message: 'bad' }).code).toBe('E_SHAPE');
    expect(validate('run-state', { v: 1, runId: 'r', state: 'training', round: 1, globalStep: 10, clients: 2 }).state).toBe(
      'training',
    );
  });

  it('gives E_UNKNOWN_TYPE for names outside the protocol', () => {
    expect(codeOf(() => validate('nope' as MessageName, hello))).toBe('E_UNKNOWN_TYPE');
    expect(codeOf(() => validate('toString' as MessageName, hello))).toBe('E_UNKNOWN_TYPE');
  });

  it('gives E_VERSION for another protocol version, before the schema', () => {
    expect(codeOf(() => validate('hello', { ...hello, v: 2 }))).toBe('E_VERSION');
    expect(codeOf(() => validate('hello', { backend: 1 }))).toBe('E_VERSION');
  });

  it('gives E_SCHEMA naming the offending field', () => {
    expect(codeOf(() => validate('hello', null))).toBe('E_SCHEMA');
    expect(codeOf(() => validate('hello', [1]))).toBe('E_SCHEMA');
    const cases: [MessageName, unknown, RegExp][] = [
      ['hello', { ...hello, examples: -1 }, /hello\/examples/],
      ['hello', { ...hello, examples: 1.5 }, /hello\/examples/],
      ['hello', { ...hello, wireFormats: ['bf16'] }, /hello\/wireFormats/],
      ['hello', { ...hello, wireFormats: [] }, /hello\/wireFormats/],
      ['hello', { ...hello, extra: 1 }, /hello/],
      ['hello', { ...hello, userAgent: 'x'.repeat(600) }, /hello\/userAgent/],
      ['activations', { ...activations(), targets: new Float64Array(6) }, /activations\/targets/],
      ['activations', { ...activations(), acts: { fmt: 'f32', shape: [2, 3, 4], data: new Uint16Array(24) } }, /activations\/acts/],
      ['activations', { ...activations(), batch: 0 }, /activations\/batch/],
      ['status', { v: 1, loss: NaN }, /status\/loss/],
      ['adapter', { v: 1, runId: 'r', round: 0, examples: 1, tensors: { 'a b': { shape: [1], data: new Float32Array(1) } } }, /adapter\/tensors/],
      ['adapter', { v: 1, runId: 'r', round: 0, examples: 1, tensors: {}, state: { step: 1, optimizer: { step: 1, m: {}, v: {} }, dataOrder: { epoch: 0, cursor: -1, seed: 0, examples: 1, fingerprint: '' } } }, /adapter\/state\/dataOrder\/cursor/],
      ['error', { v: 1, code: 'E_MADE_UP', message: 'x' }, /error\/code/],
    ];
    for (const [name, payload, where] of cases) {
      let err: unknown;
      try {
        validate(name, payload);
      } catch (e) {
        err = e;
      }
      expect(err, `${name} ${String(where)}`).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).code).toBe('E_SCHEMA');
      expect((err as ProtocolError).message).toMatch(where);
    }
    const { backend: _, ...noBackend } = hello;
    expect(codeOf(() => validate('hello', noBackend))).toBe('E_SCHEMA');
  });

  it('validates a message after a trip through the msgpack parser', () => {
    const msg = activations();
    const decoder = new Decoder();
    const got: Packet[] = [];
    decoder.on('decoded', (p: Packet) => got.push(p));
    decoder.add(new Encoder().encode({ type: PacketType.EVENT, nsp: '/', data: ['activations', msg] })[0]);
    const [name, payload] = got[0].data as [MessageName, unknown];
    const back = validate(name as 'activations', payload);
    expect(back.acts.data).toEqual(msg.acts.data);
    expect(back.mask).toBeInstanceOf(Uint8Array);
  });
});

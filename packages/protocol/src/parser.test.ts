import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors';
import { Decoder, Encoder, PacketType, type Packet } from './parser';

function roundTrip(packet: Packet, asArrayBuffer = false): Packet {
  const chunks = new Encoder().encode(packet);
  expect(chunks).toHaveLength(1);
  const decoder = new Decoder();
  const got: Packet[] = [];
  decoder.on('decoded', (p: Packet) => got.push(p));
  const chunk = chunks[0];
  decoder.add(asArrayBuffer ? chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) : chunk);
  expect(got).toHaveLength(1);
  return got[0];
}

function ramp<T extends { length: number; [i: number]: number }>(arr: T, f: (i: number) => number): T {
  for (let i = 0; i < arr.length; i++) arr[i] = f(i);
  return arr;
}

function decodeThrows(chunk: unknown): ProtocolError {
  const decoder = new Decoder();
  let emitted = 0;
  decoder.on('decoded', () => emitted++);
  try {
    decoder.add(chunk);
  } catch (e) {
    expect(emitted).toBe(0);
    expect(e).toBeInstanceOf(ProtocolError);
    return e as ProtocolError;
  }
  throw new Error('decoder.add did not throw');
}

describe('msgpack socket.io parser', () => {
  it('round-trips an event with nested typed arrays as raw bytes', () => {
    const acts = ramp(new Float32Array(8 * 16 * 32), (i) => Math.sin(i) * 3);
    const targets = ramp(new Int32Array(8 * 16), (i) => i * 7);
    const mask = ramp(new Uint8Array(8 * 16), (i) => i % 2);
    const halves = ramp(new Uint16Array(100), (i) => i * 600);
    const q = ramp(new Int8Array(64), (i) => i - 32);
    const loraA = ramp(new Float32Array(32 * 4), (i) => i / 10);
    const payload = {
      v: 1,
      acts: { fmt: 'f32', shape: [8, 16, 32], data: acts },
      targets,
      mask,
      extra: { halves, q, tensors: { 'h.0.q.lora_A': { shape: [32, 4], data: loraA } } },
    };
    const packet: Packet = { type: PacketType.EVENT, nsp: '/', data: ['activations', payload] };
    const bytes = new Encoder().encode(packet)[0].byteLength;
    const raw = acts.byteLength + targets.byteLength + mask.byteLength + halves.byteLength + q.byteLength + loraA.byteLength;
    // Raw bytes plus small headers, not 4× (JSON numbers) or 9× (float64 maps).
    expect(bytes).toBeGreaterThanOrEqual(raw);
    expect(bytes).toBeLessThan(raw + 512);

    for (const asArrayBuffer of [false, true]) {
      const got = roundTrip(packet, asArrayBuffer);
      expect(got.type).toBe(PacketType.EVENT);
      expect(got.nsp).toBe('/');
      const [name, p] = got.data as [string, typeof payload];
      expect(name).toBe('activations');
      expect(p.acts.data).toBeInstanceOf(Float32Array);
      expect(p.acts.data).toEqual(acts);
      expect(p.targets).toBeInstanceOf(Int32Array);
      expect(p.targets).toEqual(targets);
      expect(p.mask).toBeInstanceOf(Uint8Array);
      expect(Array.from(p.mask)).toEqual(Array.from(mask));
      expect(p.extra.halves).toBeInstanceOf(Uint16Array);
      expect(p.extra.halves).toEqual(halves);
      expect(p.extra.q).toBeInstanceOf(Int8Array);
      expect(p.extra.q).toEqual(q);
      expect(p.extra.tensors['h.0.q.lora_A'].data).toEqual(loraA);
    }
  });

  it('round-trips connect, ack and disconnect packets', () => {
    expect(roundTrip({ type: PacketType.CONNECT, nsp: '/', data: { sid: 'abc' } })).toEqual({
      type: PacketType.CONNECT,
      nsp: '/',
      data: { sid: 'abc' },
    });
    expect(roundTrip({ type: PacketType.ACK, nsp: '/admin', id: 42, data: [{ ok: true }] })).toEqual({
      type: PacketType.ACK,
      nsp: '/admin',
      id: 42,
      data: [{ ok: true }],
    });
    expect(roundTrip({ type: PacketType.DISCONNECT, nsp: '/' })).toEqual({ type: PacketType.DISCONNECT, nsp: '/' });
  });

  it('rejects text, non-msgpack bytes and malformed packets', () => {
    expect(decodeThrows('2["hello",{}]').code).toBe('E_DECODE');
    expect(decodeThrows(12).code).toBe('E_DECODE');
    expect(decodeThrows(new Uint8Array([0xc1])).code).toBe('E_DECODE'); // 0xc1 is never valid msgpack
    expect(decodeThrows(new TextEncoder().encode('garbage, not msgpack')).code).toBe('E_DECODE');
    expect(decodeThrows(new Uint8Array(0)).code).toBe('E_DECODE');

    const cases: [unknown, RegExp][] = [
      [[2, '/', ['hello']], /not a map/],
      [{ type: 9, nsp: '/', data: ['x'] }, /unknown packet type 9/],
      [{ type: 5, nsp: '/', data: ['x'] }, /unknown packet type 5/],
      [{ type: 2, data: ['x'] }, /namespace/],
      [{ type: 2, nsp: 'chat', data: ['x'] }, /namespace/],
      [{ type: 2, nsp: '/', id: -1, data: ['x'] }, /ack id/],
      [{ type: 2, nsp: '/', id: 1.5, data: ['x'] }, /ack id/],
      [{ type: 2, nsp: '/', data: ['disconnect'] }, /invalid payload/],
      [{ type: 2, nsp: '/', data: { hello: 1 } }, /invalid payload/],
      [{ type: 3, nsp: '/', id: 1, data: 'x' }, /invalid payload/],
      [{ type: 1, nsp: '/', data: 'bye' }, /invalid payload/],
    ];
    for (const [value, message] of cases) {
      const err = decodeThrows(pack(value));
      expect(err.code).toBe('E_DECODE');
      expect(err.message).toMatch(message);
    }
  });

  it('keeps decoding after a rejected chunk (no state carried between chunks)', () => {
    const decoder = new Decoder();
    const got: Packet[] = [];
    decoder.on('decoded', (p: Packet) => got.push(p));
    expect(() => decoder.add(new Uint8Array([0xc1]))).toThrow(ProtocolError);
    decoder.add(new Encoder().encode({ type: PacketType.EVENT, nsp: '/', data: ['status', { v: 1 }] })[0]);
    expect(got).toEqual([{ type: PacketType.EVENT, nsp: '/', data: ['status', { v: 1 }] }]);
  });
});

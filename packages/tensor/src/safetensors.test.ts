import { describe, expect, it } from 'vitest';
import { TensorError } from './errors';
import { roundToBf16, roundToF16 } from './float16';
import type { TensorRecord } from './host-tensor';
import { decodeTensor, parseHeader, parseSafetensors, writeSafetensors } from './safetensors';

const t = (shape: number[], ...vals: number[]): { shape: number[]; data: Float32Array } => ({ shape, data: new Float32Array(vals) });

/** Builds a file by hand from a header object and a data section. */
function rawFile(header: unknown, data = new Uint8Array(0), headerLen?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function expectError(fn: () => unknown, code: string, ...fragments: string[]): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TensorError);
    expect((e as TensorError).code).toBe(code);
    for (const f of fragments) expect((e as Error).message).toContain(f);
    return;
  }
  throw new Error(`expected a ${code} error`);
}

const sample: TensorRecord = {
  'b.bias': t([3], 0.1, -2, 1e-5),
  'a.weight': t([2, 2], 1, 2, 3, 4.5),
  empty: t([0, 4]),
};

describe('writeSafetensors / parseSafetensors', () => {
  it('round-trips F32 bit-exactly with metadata', () => {
    const bytes = writeSafetensors(sample, { metadata: { format: 'pt', note: 'hi' } });
    const { tensors, metadata } = parseSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt', note: 'hi' });
    expect(Object.keys(tensors)).toEqual(['b.bias', 'a.weight', 'empty']); // insertion order
    for (const [k, v] of Object.entries(sample)) {
      expect(tensors[k].shape).toEqual(v.shape);
      expect(tensors[k].data).toEqual(v.data);
    }
  });

  it('pads the header with spaces to a multiple of 8, as the Rust library does', () => {
    for (const meta of [{}, { x: '1' }, { x: '12' }, { x: '123' }] as Record<string, string>[]) {
      const bytes = writeSafetensors({ w: t([1], 1) }, { metadata: meta });
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect(n % 8).toBe(0);
      const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
      expect(text).toMatch(/} *$/);
      expect(JSON.parse(text).w.data_offsets).toEqual([0, 4]);
    }
  });

  it('writes F16/BF16 rounded to nearest even and puts wider dtypes first (aligned)', () => {
    const big = t([4], 0.1, 1 / 3, -7.77, 65519);
    const rec = { half: big, full: t([1], 0.1), brain: big };
    const bytes = writeSafetensors(rec, { dtype: (n) => (n === 'half' ? 'F16' : n === 'brain' ? 'BF16' : 'F32') });
    const header = parseHeader(bytes);
    expect(header.tensors.full.dataOffsets).toEqual([0, 4]);
    expect(header.tensors.half).toMatchObject({ dtype: 'F16', dataOffsets: [4, 12] });
    expect(header.tensors.brain).toMatchObject({ dtype: 'BF16', dataOffsets: [12, 20] });
    const { tensors } = parseSafetensors(bytes);
    expect(tensors.half.data).toEqual(roundToF16(big.data));
    expect(tensors.brain.data).toEqual(roundToBf16(big.data));
    expect(tensors.half.data[0]).not.toBe(Math.fround(0.1)); // really rounded
  });

  it('parses a header from just its first 8 + N bytes, checking offsets against the file size', () => {
    const bytes = writeSafetensors(sample);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = parseHeader(bytes.subarray(0, 8 + n), bytes.length);
    expect(header.dataStart).toBe(8 + n);
    expect(header.tensors['a.weight']).toEqual({ dtype: 'F32', shape: [2, 2], dataOffsets: [12, 28] });
    const info = header.tensors['a.weight'];
    const t = decodeTensor('a.weight', info, bytes.subarray(header.dataStart + info.dataOffsets[0], header.dataStart + info.dataOffsets[1]));
    expect(t.data).toEqual(sample['a.weight'].data);
    expectError(() => parseHeader(bytes.subarray(0, 8 + n), bytes.length - 1), 'BAD_OFFSETS', '"a.weight"');
  });

  it('decodes only the tensors `include` selects', () => {
    const bytes = writeSafetensors(sample);
    const { tensors } = parseSafetensors(bytes, { include: (n) => n.endsWith('.weight') });
    expect(Object.keys(tensors)).toEqual(['a.weight']);
  });

  it('reads from a view with a non-zero byteOffset and unaligned tensors', () => {
    const f16 = writeSafetensors({ h: t([1], 1) }, { dtype: 'F16' }); // 2 bytes of data
    // Hand-build a file whose F32 tensor starts at data offset 2 (legal, unaligned).
    const data = new Uint8Array(6);
    data.set(f16.subarray(f16.length - 2), 0);
    new DataView(data.buffer).setFloat32(2, -1.5, true);
    const file = rawFile({ h: { dtype: 'F16', shape: [1], data_offsets: [0, 2] }, f: { dtype: 'F32', shape: [1], data_offsets: [2, 6] } }, data);
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    const { tensors } = parseSafetensors(shifted.subarray(3));
    expect(tensors.h.data[0]).toBe(1);
    expect(tensors.f.data[0]).toBe(-1.5);
  });
});

describe('bad safetensors files fail with errors naming the problem', () => {
  it('buffer shorter than the 8-byte length prefix', () => {
    expectError(() => parseSafetensors(new Uint8Array(5)), 'TRUNCATED', 'truncated header', '5 bytes');
  });

  it('buffer shorter than the declared header', () => {
    const file = writeSafetensors(sample);
    expectError(() => parseSafetensors(file.subarray(0, 20)), 'TRUNCATED', 'truncated header');
  });

  it('absurd header length', () => {
    expectError(() => parseSafetensors(rawFile('{}', undefined, 2 ** 40)), 'BAD_HEADER', '100 MB');
  });

  it('invalid JSON header', () => {
    expectError(() => parseSafetensors(rawFile('{"a": {"dtype": ')), 'BAD_HEADER', 'invalid JSON header');
    expectError(() => parseSafetensors(rawFile('[1, 2]')), 'BAD_HEADER', 'must be an object');
  });

  it('malformed entries', () => {
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } })), 'BAD_HEADER', '"w"', 'shape');
    expectError(() => parseSafetensors(rawFile({ __metadata__: { a: 1 } })), 'BAD_HEADER', '__metadata__');
  });

  it('unknown dtype names the supported ones', () => {
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, new Uint8Array(16))), 'UNSUPPORTED_DTYPE', '"w"', 'F128', 'F32, F16, BF16');
  });

  it('known but unsupported dtypes (F64, I8) fail on decode, and only if decoded', () => {
    const data = new Uint8Array(12);
    const file = rawFile({
      d: { dtype: 'F64', shape: [1], data_offsets: [0, 8] },
      i: { dtype: 'I8', shape: [2], data_offsets: [8, 10] },
      h: { dtype: 'F16', shape: [1], data_offsets: [10, 12] },
    }, data);
    expect(parseSafetensors(file, { include: (n) => n === 'h' }).tensors.h.data[0]).toBe(0);
    expectError(() => parseSafetensors(file), 'UNSUPPORTED_DTYPE', '"d"', 'F64', 'supported: F32, F16, BF16');
    const header = parseHeader(file);
    expectError(() => decodeTensor('i', header.tensors.i, new Uint8Array(2)), 'UNSUPPORTED_DTYPE', 'I8');
  });

  it('data_offsets past the end of the file', () => {
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4))), 'BAD_OFFSETS', '"w"', 'outside the 4-byte data section');
  });

  it('data_offsets not matching shape × dtype', () => {
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'F16', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8))), 'BAD_OFFSETS', '"w"', 'span 8 bytes', 'needs 6');
  });

  it('refuses to write data that does not fill its shape', () => {
    expectError(() => writeSafetensors({ w: t([2, 2], 1, 2, 3) }), 'SHAPE_MISMATCH', '"w"');
  });
});

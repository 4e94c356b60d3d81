// Wire formats for cut-layer activations and their gradients, both [B, T, d].
//   'f32'  raw float32, 4 bytes/element, exact.
//   'f16'  IEEE half bits in a Uint16Array, 2 bytes/element, round-to-nearest-even:
//          relative error ≤ 2^-11 for |x| in [2^-14, 65504]; smaller values lose precision
//          (subnormals) and |x| > 65504 cannot be sent (encodeTensor throws).
//   'int8' symmetric per-row quantisation, a row being the last dimension (d):
//          scale = max|x| / 127, q = round(x / scale), 1 byte/element + 4 bytes/row;
//          error ≤ scale / 2 per element.
// Gradients are small (≈1e-5 and below for long sequences), so 'f16' or 'int8' for gradients
// trades accuracy for bandwidth; 'f32' is the safe default.

import { f16ArrayToF32, f16ToF32 as f16ToF32Scalar, f32ArrayToF16, numel, type HostTensor } from '@splitlora/tensor';
import { ProtocolError } from './errors';

// Re-exported: the protocol's users name host tensors through it.
export { numel, type HostTensor, type TensorRecord } from '@splitlora/tensor';

export type WireFormat = 'f32' | 'f16' | 'int8';
export const WIRE_FORMATS: readonly WireFormat[] = ['f32', 'f16', 'int8'];

export type WireTensor =
  | { fmt: 'f32'; shape: number[]; data: Float32Array }
  | { fmt: 'f16'; shape: number[]; data: Uint16Array }
  | { fmt: 'int8'; shape: number[]; data: Int8Array; scale: Float32Array /* [rows] */ };

/** Bytes one tensor of this shape takes on the wire (payload only, no msgpack headers). */
export function wireBytes(shape: readonly number[], fmt: WireFormat): number {
  const n = numel(shape);
  if (fmt === 'f32') return 4 * n;
  if (fmt === 'f16') return 2 * n;
  const last = shape.length ? shape[shape.length - 1] : 1;
  return n + 4 * (last ? n / last : 0);
}

export function encodeTensor(t: HostTensor, fmt: WireFormat): WireTensor {
  checkShape('tensor', t.shape, t.data.length);
  const shape = [...t.shape];
  switch (fmt) {
    case 'f32':
      return { fmt, shape, data: t.data };
    case 'f16':
      return { fmt, shape, data: f32ToF16(t.data) };
    case 'int8': {
      const { q, scale } = quantizeInt8(t.data, rowLength(shape));
      return { fmt, shape, data: q, scale };
    }
    default:
      throw new ProtocolError('E_SCHEMA', `unknown wire format "${String(fmt)}"; use one of ${WIRE_FORMATS.join(', ')}`);
  }
}

/** Decodes to float32. Checks lengths; does not check finiteness (see assertWireFinite). */
export function decodeTensor(w: WireTensor): HostTensor {
  checkWireTensor('tensor', w);
  const shape = [...w.shape];
  switch (w.fmt) {
    case 'f32':
      return { shape, data: w.data };
    case 'f16':
      return { shape, data: f16ToF32(w.data) };
    case 'int8':
      return { shape, data: dequantizeInt8(w.data, w.scale, rowLength(shape)) };
  }
}

/** Checks the data array type, the data length against the shape, and the int8 scale length. */
export function checkWireTensor(name: string, w: WireTensor): void {
  const want = { f32: Float32Array, f16: Uint16Array, int8: Int8Array }[w.fmt];
  if (!want) throw new ProtocolError('E_SCHEMA', `${name}: unknown wire format "${String(w.fmt)}"`);
  if (!(w.data instanceof want)) {
    throw new ProtocolError('E_SCHEMA', `${name}: format '${w.fmt}' needs a ${want.name} for data`);
  }
  checkShape(name, w.shape, w.data.length);
  if (w.fmt === 'int8') {
    const rows = w.data.length / Math.max(rowLength(w.shape), 1);
    if (!(w.scale instanceof Float32Array) || w.scale.length !== rows) {
      throw new ProtocolError('E_SHAPE', `${name}: int8 needs a Float32Array scale with one entry per row (${rows})`);
    }
  }
}

/** Throws E_NONFINITE naming the first NaN/±Infinity and its index. */
export function assertFinite(name: string, data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    // v - v is 0 for finite numbers, NaN for NaN and ±Infinity.
    if (v - v !== 0) throw new ProtocolError('E_NONFINITE', `${name}[${i}] is ${v}; check the sender for overflow`);
  }
}

/** Finiteness of a wire tensor without decoding it (f16: exponent bits; int8: the scales). */
export function assertWireFinite(name: string, w: WireTensor): void {
  if (w.fmt === 'f32') return assertFinite(name, w.data);
  if (w.fmt === 'int8') {
    assertFinite(`${name}.scale`, w.scale);
    for (let i = 0; i < w.scale.length; i++) {
      if (w.scale[i] < 0) throw new ProtocolError('E_RANGE', `${name}.scale[${i}] is negative`);
    }
    return;
  }
  for (let i = 0; i < w.data.length; i++) {
    if ((w.data[i] & 0x7c00) === 0x7c00) {
      throw new ProtocolError('E_NONFINITE', `${name}[${i}] is ${f16ToF32Scalar(w.data[i])}; check the sender for overflow`);
    }
  }
}

function checkShape(name: string, shape: readonly number[], length: number): void {
  if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new ProtocolError('E_SHAPE', `${name}: shape must be a list of non-negative integers`);
  }
  if (numel(shape) !== length) {
    throw new ProtocolError('E_SHAPE', `${name}: shape [${shape.join(', ')}] needs ${numel(shape)} values, got ${length}`);
  }
}

function rowLength(shape: readonly number[]): number {
  return shape.length ? shape[shape.length - 1] : 1;
}

// ---- float16 ----------------------------------------------------------------------------
// The conversions are @splitlora/tensor's; the wire adds the rule that a finite value must not
// overflow into Inf on the way.

export const f16ToF32: (src: Uint16Array) => Float32Array = f16ArrayToF32;

/** Throws E_NONFINITE when a finite value overflows half range (|x| > 65504). NaN/Inf pass through. */
export function f32ToF16(src: Float32Array): Uint16Array {
  const out = f32ArrayToF16(src);
  for (let i = 0; i < src.length; i++) {
    if ((out[i] & 0x7fff) === 0x7c00 && Number.isFinite(src[i])) {
      throw new ProtocolError('E_NONFINITE', `value ${src[i]} at index ${i} overflows f16 (max 65504); send 'f32' instead`);
    }
  }
  return out;
}

// ---- int8 -------------------------------------------------------------------------------

/** Per-row symmetric quantisation. data: [rows·row], returns q: [rows·row], scale: [rows]. */
export function quantizeInt8(data: Float32Array, row: number): { q: Int8Array; scale: Float32Array } {
  const rows = row > 0 ? data.length / row : 0;
  const q = new Int8Array(data.length);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const off = r * row;
    let max = 0;
    for (let j = 0; j < row; j++) max = Math.max(max, Math.abs(data[off + j]));
    scale[r] = max / 127; // a NaN/Inf in the row makes the scale non-finite, caught by assertWireFinite
    const s = scale[r]; // the float32 value the receiver will use
    if (!(s > 0)) continue; // all-zero row (or NaN): q stays 0
    for (let j = 0; j < row; j++) {
      const v = Math.round(data[off + j] / s);
      q[off + j] = v > 127 ? 127 : v < -127 ? -127 : v;
    }
  }
  return { q, scale };
}

export function dequantizeInt8(q: Int8Array, scale: Float32Array, row: number): Float32Array {
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = q[i] * scale[(i / row) | 0];
  return out;
}

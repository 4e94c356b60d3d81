// IEEE half (f16) and bfloat16 <-> float32, on raw bit patterns so NaN payloads, signed zeros
// and subnormals survive. f32 -> f16/bf16 rounds to nearest, ties to even (like numpy/torch).

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Rounds v >>> s to nearest, ties to even (1 <= s <= 24, v < 2^25). */
function shiftRoundEven(v: number, s: number): number {
  const q = v >>> s;
  const rem = v & ((1 << s) - 1);
  const half = 1 << (s - 1);
  return rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q;
}

/** f32 bit pattern -> f16 bit pattern. */
export function f32BitsToF16Bits(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays Inf; NaN keeps its top payload bits and is forced quiet so it cannot become Inf.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15; // f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e >= 1) {
    // Normal: keep the top 10 mantissa bits, round on the 13 dropped ones. A carry rolls into the
    // exponent, and from exponent 30 into Inf (0x7c00), which is what IEEE rounding wants.
    const base = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    const up = rem > 0x1000 || (rem === 0x1000 && (base & 1) === 1);
    return sign | (base + (up ? 1 : 0));
  }
  // Result is subnormal (or zero): value = M · 2^(exp-150) with M = 1.mant as a 24-bit integer,
  // and the f16 subnormal mantissa is value / 2^-24 = M >> s with s = 126 - exp (>= 14).
  const s = 126 - exp;
  if (s > 24) return sign; // below half the smallest subnormal (also covers f32 subnormals)
  return sign | shiftRoundEven(mant | 0x800000, s); // m may round up to 0x400 = smallest normal
}

/** f16 bit pattern -> f32 bit pattern (exact). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal f16 is a normal f32: normalise the mantissa.
  let e = 1;
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | ((e - 15 + 127) << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** f32 bit pattern -> bf16 bit pattern (round to nearest even; NaN stays NaN). */
export function f32BitsToBf16Bits(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff;
  // Adding 0x7fff (+1 when the kept lsb is odd) rounds half to even; max sum 0xff807fff < 2^32.
  return (((b >>> 0) + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToF16(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToF16Bits(u32Scratch[0]);
}

export function f16ToF32(h: number): number {
  u32Scratch[0] = f16BitsToF32Bits(h);
  return f32Scratch[0];
}

export function f32ToBf16(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToBf16Bits(u32Scratch[0]);
}

export function bf16ToF32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0];
}

let f16Table: Float32Array | undefined;

/** Decodes f16 bit patterns via a 65536-entry table (fast for 100M-element embeddings). */
export function f16ArrayToF32(src: Uint16Array): Float32Array {
  if (!f16Table) {
    const bits = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) bits[h] = f16BitsToF32Bits(h);
    f16Table = new Float32Array(bits.buffer);
  }
  const table = f16Table;
  const out = new Float32Array(src.length);
  // Copy through a Uint32 view so NaN payloads are not canonicalised by float loads/stores.
  const outBits = new Uint32Array(out.buffer);
  const tableBits = new Uint32Array(table.buffer);
  for (let i = 0; i < src.length; i++) outBits[i] = tableBits[src[i]];
  return out;
}

export function f32ArrayToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

export function bf16ArrayToF32(src: Uint16Array): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
  return new Float32Array(out.buffer);
}

export function f32ArrayToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16Bits(bits[i]);
  return out;
}

/** Rounds each value through f16 and back: what an F16 checkpoint will hold. */
export function roundToF16(src: Float32Array): Float32Array {
  return f16ArrayToF32(f32ArrayToF16(src));
}

export function roundToBf16(src: Float32Array): Float32Array {
  return bf16ArrayToF32(f32ArrayToBf16(src));
}

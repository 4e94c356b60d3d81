import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, roundToF16 } from './float16';

const hex = (n: number) => '0x' + n.toString(16).padStart(4, '0');
const fromBits = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0];

describe('f32 -> f16', () => {
  it.each([
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800],
    [65504, 0x7bff], // max finite
    [65519, 0x7bff], // just under the midpoint to 65536
    [65520, 0x7c00], // midpoint: ties to even = 65536 = Inf
    [1e6, 0x7c00], [-1e6, 0xfc00],
    [Infinity, 0x7c00], [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // half the smallest subnormal: tie to even -> 0
    [-(2 ** -25), 0x8000],
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 subnormal units -> even (2)
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [1023.5 * 2 ** -24, 0x0400], // tie rounds up into the smallest normal
    [1 + 2 ** -11, 0x3c00], // tie -> even mantissa 0
    [1 + 3 * 2 ** -11, 0x3c02], // tie -> even mantissa 2
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
    [1e-10, 0x0000], [fromBits(0x00000001), 0x0000], // f32 subnormal underflows
  ])('%s -> %s', (x, bits) => {
    expect(hex(f32ToF16(x))).toBe(hex(bits));
  });

  it('nudges a value just above half the smallest subnormal up', () => {
    expect(f32ToF16(fromBits(0x33000001))).toBe(1); // 2^-25 · (1 + 2^-23)
  });

  it('keeps NaN a NaN, including payloads only in low bits', () => {
    for (const b of [0x7fc00000, 0x7f800001, 0xffc00000, 0x7f802000]) {
      const h = f32ToF16(fromBits(b));
      expect((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0, hex(h)).toBe(true);
      expect(Number.isNaN(f16ToF32(h))).toBe(true);
    }
  });

  it('matches a brute-force nearest-even search over all f16 values', () => {
    // Reference: sorted finite non-negative f16 values and their bit patterns.
    const vals: number[] = [];
    for (let h = 0; h < 0x7c00; h++) vals.push(f16ToF32(h));
    const maxF16 = 65504;
    const nearest = (x: number): number => {
      const a = Math.abs(x);
      const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
      if (a >= maxF16 + 16) return sign | 0x7c00; // at or past the midpoint to 2^16
      let lo = 0, hi = vals.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (vals[mid] <= a) lo = mid; else hi = mid;
      }
      if (a >= vals[hi]) return sign | hi;
      const dLo = a - vals[lo], dHi = vals[hi] - a;
      return sign | (dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi);
    };
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const bad: string[] = [];
    for (let i = 0; i < 50_000; i++) {
      // Random exponents across subnormal, normal and overflow ranges, random mantissas.
      const x = Math.fround((rnd() - 0.5) * 2 ** Math.floor(rnd() * 48 - 30));
      if (f32ToF16(x) !== nearest(x)) bad.push(`${x}: got ${hex(f32ToF16(x))}, want ${hex(nearest(x))}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });
});

describe('f16 -> f32', () => {
  it('decodes special patterns', () => {
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(Number.isNaN(f16ToF32(0x7e00))).toBe(true);
  });

  it('round-trips every non-NaN f16 bit pattern exactly', () => {
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
      if (f32ToF16(f16ToF32(h)) !== h) throw new Error(`pattern ${hex(h)} does not round-trip`);
    }
  });

  it('array path agrees with the scalar path', () => {
    const src = new Float32Array([0.1, -3.14159, 1e-6, 7e4, NaN, -0]);
    const out = roundToF16(src);
    src.forEach((v, i) => {
      const want = f16ToF32(f32ToF16(v));
      expect(Object.is(out[i], want) || (Number.isNaN(out[i]) && Number.isNaN(want))).toBe(true);
    });
  });
});

describe('bf16', () => {
  it.each([
    [0, 0x0000], [-0, 0x8000], [1, 0x3f80], [-2, 0xc000],
    [1 + 2 ** -8, 0x3f80], // tie -> even
    [1 + 3 * 2 ** -8, 0x3f82], // tie -> even (up)
    [1 + 2 ** -8 + 2 ** -20, 0x3f81],
    [3.4028234663852886e38, 0x7f80], // f32 max rounds to Inf
    [Infinity, 0x7f80], [-Infinity, 0xff80],
    [fromBits(0x00010000), 0x0001], // f32 subnormal stays subnormal
  ])('%s -> %s', (x, bits) => {
    expect(hex(f32ToBf16(x))).toBe(hex(bits));
  });

  it('keeps NaN a NaN even when its payload is only in the dropped bits', () => {
    for (const b of [0x7f800001, 0xff800001, 0x7fc00000]) expect(Number.isNaN(bf16ToF32(f32ToBf16(fromBits(b))))).toBe(true);
  });

  it('decodes by shifting into the high half', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0x4049)).toBe(3.140625);
  });
});

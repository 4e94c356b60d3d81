// Small seeded PRNG (sfc32, seeded through splitmix32) and Box-Muller normals. Same seed -> same
// bits in any JS engine for the uniforms; normals use Math.log/cos/sin, which V8 computes
// identically on every platform (other engines may differ in the last bit).

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a over UTF-16 code units: turns (seed, name) into a 32-bit stream id. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Uniform 32-bit integers from sfc32. */
export function sfc32(seed: number): () => number {
  const sm = splitmix32(seed);
  let a = sm(), b = sm(), c = sm(), d = sm();
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next(); // warm-up, as sfc32's author recommends
  return next;
}

/** Fills `out` with N(0, std²) samples (Box-Muller, both outputs used). */
export function fillNormal(out: Float32Array, std: number, rand: () => number): void {
  for (let i = 0; i < out.length; i += 2) {
    const u1 = (rand() + 0.5) / 4294967296; // in (0, 1): log never sees 0
    const u2 = rand() / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1)) * std;
    const th = 2 * Math.PI * u2;
    out[i] = r * Math.cos(th);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(th);
  }
}

// Defences a volunteer can apply to its cut activations before they go on the wire: per-row L2
// clipping to C, then Gaussian noise of std S. Pure functions over row-major [rows, d] data. They
// live with the volunteer, which applies them; packages/privacy's attack imports them from here.
import { makeRng, mixSeed } from '@splitlora/data';

export interface ActivationDefence {
  /** Clip each row (one position's d values) to L2 norm at most this. */
  actClip?: number;
  /** Add N(0, actNoise²) to every element (after clipping). */
  actNoise?: number;
  /** Seed of the noise. */
  noiseSeed?: number;
}

export function checkDefence(d: ActivationDefence): void {
  if (d.actClip !== undefined && !(Number.isFinite(d.actClip) && d.actClip > 0)) throw new Error(`actClip must be a number > 0, got ${d.actClip}`);
  if (d.actNoise !== undefined && !(Number.isFinite(d.actNoise) && d.actNoise >= 0)) throw new Error(`actNoise must be a number >= 0, got ${d.actNoise}`);
}

/** In place: rows of `row` values scaled to L2 norm ≤ clip. */
export function clipRows(data: Float32Array, row: number, clip: number): Float32Array {
  for (let off = 0; off < data.length; off += row) {
    let sq = 0;
    for (let j = 0; j < row; j++) sq += data[off + j] * data[off + j];
    const norm = Math.sqrt(sq);
    if (norm <= clip) continue;
    const s = clip / norm;
    for (let j = 0; j < row; j++) data[off + j] *= s;
  }
  return data;
}

/** In place: adds N(0, std²) noise from a seeded stream (Box–Muller). */
export function addGaussianNoise(data: Float32Array, std: number, seed: number): Float32Array {
  if (std === 0) return data;
  const rand = makeRng(mixSeed(seed, 0x6e6f));
  for (let i = 0; i < data.length; i += 2) {
    const u = 1 - rand(); // (0, 1]: log is finite
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    const a = 2 * Math.PI * rand();
    data[i] += r * Math.cos(a);
    if (i + 1 < data.length) data[i + 1] += r * Math.sin(a);
  }
  return data;
}

/**
 * In place: `grad` = ∂loss/∂(clipped rows) becomes ∂loss/∂rows, through the clip's exact Jacobian.
 * A clipped row a → C·a/|a| has the symmetric Jacobian (C/|a|)(I − a·aᵀ/|a|²); unclipped rows pass
 * unchanged, and the additive noise has the identity Jacobian. `rows` are the clean rows before clipping.
 */
export function clipRowsBackward(rows: Float32Array, grad: Float32Array, row: number, clip: number): Float32Array {
  if (rows.length !== grad.length) throw new Error(`clipRowsBackward: ${rows.length} row values but ${grad.length} gradient values`);
  for (let off = 0; off < rows.length; off += row) {
    let sq = 0;
    let dot = 0;
    for (let j = 0; j < row; j++) {
      sq += rows[off + j] * rows[off + j];
      dot += rows[off + j] * grad[off + j];
    }
    const norm = Math.sqrt(sq);
    if (norm <= clip) continue;
    const s = clip / norm;
    const along = dot / sq;
    for (let j = 0; j < row; j++) grad[off + j] = s * (grad[off + j] - along * rows[off + j]);
  }
  return grad;
}

/** Whether a defence changes anything (no clip and no noise: the rows go out untouched). */
export function isDefended(d: ActivationDefence): boolean {
  return d.actClip !== undefined || (d.actNoise ?? 0) > 0;
}

/** Clip, then noise (the order a volunteer applies them: the noise is calibrated to the clipped norm). */
export function applyDefence(data: Float32Array, row: number, d: ActivationDefence, stepSeed: number): Float32Array {
  if (d.actClip !== undefined) clipRows(data, row, d.actClip);
  if (d.actNoise) addGaussianNoise(data, d.actNoise, mixSeed(d.noiseSeed ?? 0, stepSeed));
  return data;
}

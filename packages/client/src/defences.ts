// Defences a volunteer can apply to its cut activations before they go on the wire: per-row L2
// clipping to C, then Gaussian noise of std S. Pure functions over row-major [rows, d] data. They
// live with the volunteer, which applies them; packages/privacy's attack imports them from here.
// The noise is a ChaCha20 keystream under the volunteer's 256-bit secret key, with the step as the
// nonce: a retried step sends the same noise (the server never gets two draws of one batch to
// average), and no one without the key can regenerate it. A 32-bit seeded PRNG could be brute-forced.
import { chacha20 } from '@noble/ciphers/chacha.js';
import { mixSeed } from '@splitlora/data';

export interface ActivationDefence {
  /** Clip each row (one position's d values) to L2 norm at most this. */
  actClip?: number;
  /** Add N(0, actNoise²) to every element (after clipping). */
  actNoise?: number;
  /** The noise's secret key (NOISE_KEY_BYTES bytes); required when actNoise > 0. */
  noiseKey?: Uint8Array;
}

export const NOISE_KEY_BYTES = 32;

/** A fresh secret noise key from the platform's CSPRNG. */
export function newNoiseKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(NOISE_KEY_BYTES));
}

/** A key derived from a number, for reproducible simulations and tests only: it is not secret. */
export function noiseKeyFromSeed(seed: number): Uint8Array {
  const words = Uint32Array.from({ length: NOISE_KEY_BYTES / 4 }, (_, i) => mixSeed(seed, i));
  return new Uint8Array(words.buffer);
}

export function checkDefence(d: ActivationDefence): void {
  if (d.actClip !== undefined && !(Number.isFinite(d.actClip) && d.actClip > 0)) throw new Error(`actClip must be a number > 0, got ${d.actClip}`);
  if (d.actNoise !== undefined && !(Number.isFinite(d.actNoise) && d.actNoise >= 0)) throw new Error(`actNoise must be a number >= 0, got ${d.actNoise}`);
  if (d.noiseKey !== undefined && d.noiseKey.length !== NOISE_KEY_BYTES) throw new Error(`noiseKey must be ${NOISE_KEY_BYTES} bytes, got ${d.noiseKey.length}`);
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

/**
 * In place: adds N(0, std²) noise (Box–Muller) drawn from the ChaCha20 keystream of `key` with
 * nonce `step`: the same (key, step) gives the same noise, another step or key independent noise.
 */
export function addGaussianNoise(data: Float32Array, std: number, key: Uint8Array, step: number): Float32Array {
  if (std === 0) return data;
  if (key.length !== NOISE_KEY_BYTES) throw new Error(`noise key must be ${NOISE_KEY_BYTES} bytes, got ${key.length}`);
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`noise step must be an integer >= 0, got ${step}`);
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(0, BigInt(step), true);
  const pairs = Math.ceil(data.length / 2);
  const stream = new Uint32Array(chacha20(key, nonce, new Uint8Array(pairs * 8)).buffer);
  for (let p = 0; p < pairs; p++) {
    const u = (stream[2 * p] + 1) / 4294967296; // (0, 1]: log is finite
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    const a = (2 * Math.PI * stream[2 * p + 1]) / 4294967296;
    data[2 * p] += r * Math.cos(a);
    if (2 * p + 1 < data.length) data[2 * p + 1] += r * Math.sin(a);
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
export function applyDefence(data: Float32Array, row: number, d: ActivationDefence, step: number): Float32Array {
  if (d.actClip !== undefined) clipRows(data, row, d.actClip);
  if (d.actNoise) {
    // No default key: a key everyone knows would make the noise removable.
    if (!d.noiseKey) throw new Error('actNoise needs a secret noiseKey');
    addGaussianNoise(data, d.actNoise, d.noiseKey, step);
  }
  return data;
}

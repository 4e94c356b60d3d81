// The clip's backward pass (what the volunteer applies to the server's gradient) against tfjs's
// own gradient of the same clip.
import * as tf from '@tensorflow/tfjs';
import { makeRng } from '@splitlora/data';
import { describe, expect, it } from 'vitest';
import { clipRows, clipRowsBackward, isDefended } from './defences';

describe('clipRowsBackward', () => {
  it('equals autodiff of the per-row clip, for clipped and unclipped rows', () => {
    const rows = 6;
    const d = 5;
    const C = 1;
    const rand = makeRng(3);
    // Rows of norm ≈ 0.3 to ≈ 3: some under C, most over.
    const x = Float32Array.from({ length: rows * d }, (_, i) => (rand() - 0.5) * (0.3 + Math.floor(i / d) * 0.5));
    const g = Float32Array.from({ length: rows * d }, () => rand() - 0.5);
    const norms = Array.from({ length: rows }, (_, r) => Math.hypot(...x.subarray(r * d, (r + 1) * d)));
    expect(norms.some((n) => n < C) && norms.some((n) => n > C)).toBe(true);

    const clip = (t: tf.Tensor2D) => tf.mul(t, tf.minimum(1, tf.div(C, tf.norm(t, 2, 1, true))));
    const want = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(clip(t as tf.Tensor2D), tf.tensor2d(g, [rows, d]))))(tf.tensor2d(x, [rows, d])).dataSync());
    const got = clipRowsBackward(x, Float32Array.from(g), d, C);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(want[i], 5);
    // Forward agrees with the same clip.
    const fwd = tf.tidy(() => clip(tf.tensor2d(x, [rows, d])).dataSync());
    const mine = clipRows(Float32Array.from(x), d, C);
    for (let i = 0; i < mine.length; i++) expect(mine[i]).toBeCloseTo(fwd[i], 6);
  });

  it('rejects mismatched lengths; isDefended says when anything changes', () => {
    expect(() => clipRowsBackward(new Float32Array(4), new Float32Array(3), 2, 1)).toThrow(/row values/);
    expect(isDefended({})).toBe(false);
    expect(isDefended({ actNoise: 0 })).toBe(false);
    expect(isDefended({ actNoise: 0.1 })).toBe(true);
    expect(isDefended({ actClip: 2 })).toBe(true);
  });
});

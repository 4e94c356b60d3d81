// For the checkpoint tests (packages/model/src/checkpoint): a smaller model still, and the checks on
// what loaders throw and on bit-exact arrays (vitest).
import type { GPT2Config } from '@splitlora/model';
import { TensorError } from '@splitlora/tensor';
import { expect } from 'vitest';
// Not in @splitlora/model's exports (its loaders throw it; programs read `code`).
import { CheckpointError } from '../../packages/model/src/checkpoint/errors';

/** Small enough that every checkpoint test runs in milliseconds (a 50-token vocabulary: no text). */
export const CHECKPOINT_TINY: GPT2Config = { vocabSize: 50, nPositions: 16, nEmbd: 8, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };

export function expectCheckpointError(fn: () => unknown, code: string, ...fragments: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  checkError(caught, code, fragments);
}

export async function expectCheckpointErrorAsync(p: Promise<unknown>, code: string, ...fragments: string[]): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  checkError(caught, code, fragments);
}

// Loaders throw CheckpointError for what they check and TensorError for malformed safetensors bytes.
function checkError(e: unknown, code: string, fragments: string[]): void {
  expect(e instanceof CheckpointError || e instanceof TensorError, `expected a ${code} error, got ${String(e)}`).toBe(true);
  expect((e as CheckpointError | TensorError).code).toBe(code);
  for (const f of fragments) expect((e as Error).message).toContain(f);
}

/** Bit-for-bit equality of two float arrays; fast enough for 3M-element embeddings (toEqual is not). */
export function expectSameBits(actual: Float32Array, expected: Float32Array, label = ''): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) expect(`${label}[${i}] = ${actual[i]}`).toBe(`${label}[${i}] = ${expected[i]}`);
  }
}

// Vitest setup shared by the simulation tests: the wasm backend and a model's weights as tensors
// for the whole file, freed at its end. (Apart from tiny.ts, which Playwright imports.)
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { toWeights, type Weights } from '@splitlora/model';
import { afterAll, beforeAll } from 'vitest';
import type { SimModel } from '@splitlora/lab';

/** Returns a getter: the weights exist from beforeAll on. */
export function useWasmWeights(model: SimModel): () => Weights {
  let weights: Weights | undefined;
  beforeAll(async () => {
    await selectNodeBackend('wasm', () => {});
    weights = toWeights(model.weights);
  });
  afterAll(() => {
    tf.dispose(Object.values(weights ?? {}));
  });
  return () => weights!;
}

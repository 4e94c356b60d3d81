// `splitlora simulate --browser` end to end: the real server and two headless Chromium tabs
// running the volunteer page, each handed its shard as a picked file. The loss falls in every tab,
// each tab's backend is reported, and the summary has exactly the fields scripts rely on. The tabs
// load the test build (dist/web-test, with window.__splitlora), which `npm run test:browser` makes.
import { expect, test } from '@playwright/test';
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { toWeights } from '@splitlora/model';
import { heldoutCurve, loadSimData, runSimulate } from '@splitlora/lab';
import { tinyModel, tinySettings } from '../kit/tiny';
import { webDir } from './web-server';

/** SwiftShader WebGPU takes seconds per step; WebGL keeps this test short. BROWSER_BACKENDS=auto,auto lets the page choose. */
const BACKENDS = (process.env.BROWSER_BACKENDS ?? 'webgl,webgl').split(',').map((b) => (b === 'auto' ? undefined : b));

test('a 2-tab browser simulation completes with a falling loss and reports each tab\'s backend', async () => {
  test.setTimeout(240_000);
  await selectNodeBackend('wasm', () => {});
  const model = tinyModel();
  const weights = toWeights(model.weights);
  const s = tinySettings({ clients: 2, steps: 6, interval: 3, batch: 4, lr: 3e-2 });
  const data = await loadSimData({ examples: 60, heldout: 8, partition: 'iid', clients: 2, seed: 0 });
  try {
    const { result, run } = await runSimulate(model, weights, s, data, { mode: 'browser', browser: { backends: BACKENDS, webDir } });
    console.log(`simulate --browser: ${JSON.stringify(result)}`);

    expect(Object.keys(result).sort()).toEqual(['aggregations', 'backends', 'bytesDown', 'bytesUp', 'clients', 'finalLoss', 'heldoutLoss', 'initialLoss', 'method', 'steps', 'wallSeconds']);
    expect(result).toMatchObject({ method: 'split', clients: 2, steps: 6, aggregations: 2 });
    expect(result.backends).toHaveLength(2);
    result.backends.forEach((b, c) => {
      expect(['webgpu', 'webgl', 'wasm', 'cpu']).toContain(b);
      if (BACKENDS[c]) expect(b).toBe(BACKENDS[c]);
    });
    // Every tab trained all its steps, and its loss fell from the first round to the last.
    for (const losses of run.losses) {
      expect(losses).toHaveLength(6);
      const first = (losses[0] + losses[1] + losses[2]) / 3;
      const last = (losses[3] + losses[4] + losses[5]) / 3;
      expect(last).toBeLessThan(first);
    }
    expect(result.finalLoss).toBeLessThan(result.initialLoss);
    // The held-out loss of the final model is below that of the shared start.
    const [start, end] = await heldoutCurve(model, weights, s, data.heldout, [run.checkpoints[0], run.checkpoints[run.checkpoints.length - 1]]);
    expect(end.heldoutLoss).toBe(result.heldoutLoss);
    expect(end.heldoutLoss).toBeLessThan(start.heldoutLoss);
    // Each tab's WebSocket carried at least its float32 activations up and gradients down.
    for (const c of [0, 1]) {
      const acts = 4 * s.batch * run.meanSeqLen * model.config.nEmbd * s.steps;
      expect(result.bytesUp[c]).toBeGreaterThan(acts);
      expect(result.bytesDown[c]).toBeGreaterThan(acts);
    }
  } finally {
    tf.dispose(Object.values(weights));
  }
});

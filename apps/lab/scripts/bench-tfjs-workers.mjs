#!/usr/bin/env node
// `node apps/lab/scripts/bench-tfjs-workers.mjs [--preset micro] [--workers 1,2] [--clients 1] [--batch 8]
// [--seq-len 64] [--steps 5] [--backend wasm]`: the tfjs training service at 1 and at n worker
// threads (ComputeWorker, ComputePool), steps taken in turn on the same random-weight preset and
// the same step requests: ms per server step (median after one warm-up step), the speed-up over
// the first, and the largest relative difference of the clients' losses from the first (a check
// that the spread step is the same step). Prints one JSON object; a summary goes to stderr.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { register } from 'tsx/esm/api';

register();
const { PRESETS, defaultCut, initGpt2Weights } = await import('../../../packages/model/src/index.ts');
const { ComputePool } = await import('../../server/src/compute/compute-pool.ts');
const { ComputeWorker, sharedRecord } = await import('../../server/src/compute/compute-worker.ts');

const { values: a } = parseArgs({
  options: {
    preset: { type: 'string', default: 'micro' },
    workers: { type: 'string', default: '1,2' },
    clients: { type: 'string', default: '1' },
    batch: { type: 'string', default: '8' },
    'seq-len': { type: 'string', default: '64' },
    steps: { type: 'string', default: '5' },
    backend: { type: 'string', default: 'wasm' },
  },
});
const config = PRESETS[a.preset];
if (!config) throw new Error(`--preset ${a.preset}: one of ${Object.keys(PRESETS).join(', ')}`);
const [C, B, T, steps] = [a.clients, a.batch, a['seq-len'], a.steps].map(Number);
const counts = a.workers.split(',').map(Number);
const d = config.nEmbd;
const cut = defaultCut(config);
const weights = sharedRecord(initGpt2Weights(config, 1));
const spec = { config, cut, lora: { r: 4, alpha: 32, dropout: 0.1, targets: ['q', 'v'] }, seed: 1, lr: 2e-4, schedule: { kind: 'constant' }, smoothing: 0.1 };
// The second half of each row is in the loss (as E2E's prompt + reference), as bench-server sends.
const group = (step) => Array.from({ length: C }, (_, c) => ({
  clientId: `c${c}`,
  acts: { shape: [B, T, d], data: Float32Array.from({ length: B * T * d }, (_, j) => Math.sin(j * 0.37 + c + step)) },
  targets: Int32Array.from({ length: B * T }, (_, j) => (j * 31 + c + step) % config.vocabSize),
  mask: Float32Array.from({ length: B * T }, (_, j) => (j % T >= T / 2 ? 1 : 0)),
}));
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

// All services up at once and their steps interleaved, so that load from elsewhere hits each alike.
const services = counts.map((n) => ({ n, compute: n > 1 ? new ComputePool({ workers: n, backend: a.backend, config, weights }) : new ComputeWorker({ role: 'train', backend: a.backend, config, weights }), ms: [], losses: [] }));
for (const s of services) {
  const t = performance.now();
  await s.compute.start();
  s.startS = (performance.now() - t) / 1000;
  await s.compute.request({ op: 'open', key: 'bench', spec });
}
for (let step = 0; step <= steps; step++) {
  for (const s of services) {
    const t = performance.now();
    const out = await s.compute.request({ op: 'step', key: 'bench', group: group(step) });
    if (step > 0) s.ms.push(performance.now() - t); // step 0 warms up (kernels, AdamW state)
    s.losses.push(...out.replies.map((r) => r.loss));
  }
}
const results = [];
for (const s of services) {
  await s.compute.close();
  results.push({ workers: s.n, backend: s.compute.health.backend, startSeconds: s.startS, medianStepMs: median(s.ms), stepMs: s.ms.map((x) => Math.round(x)), losses: s.losses });
  console.error(`bench-tfjs-workers: ${s.n} worker${s.n > 1 ? 's' : ''}: ${median(s.ms).toFixed(0)} ms per step (median of ${s.ms.length}), start ${s.startS.toFixed(1)} s`);
}
const first = results[0];
for (const r of results) {
  r.speedup = first.medianStepMs / r.medianStepMs;
  r.maxLossRelDiff = Math.max(...r.losses.map((l, j) => Math.abs(l - first.losses[j]) / Math.abs(first.losses[j])));
}
for (const r of results) delete r.losses;
console.log(JSON.stringify({ preset: a.preset, layers: config.nLayer, dModel: config.nEmbd, cut, clients: C, batch: B, seqLen: T, steps, cores: availableParallelism(), results }, null, 2));

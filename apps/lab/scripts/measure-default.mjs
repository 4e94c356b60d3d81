#!/usr/bin/env node
// `npm run measure:default [-- MODEL_DIR]`: the offline default's targets, measured.
//  1. held-out NLL on its pretraining distribution (the corpus' held-out lines, as `score` computes it);
//  2. the demo run (serve's DEMO_RUN, one volunteer): held-out loss on the server's synthetic
//     held-out set over the first 50 steps, and greedy generations before and after.
// Prints one JSON object. MODEL_DIR defaults to the shipped default.
import { register } from 'tsx/esm/api';

register();
const { selectNodeBackend } = await import('../../../packages/backend/src/node.ts');
const { DEFAULT_CORPUS, restaurantCorpusExamples, encodeExamples } = await import('../../../packages/data/src/index.ts');
const { loadGpt2Dir } = await import('../../../packages/model/src/node.ts');
const { FullModel, SPLITLORA_ADAMW, toWeights, disposeWeights } = await import('../../../packages/model/src/index.ts');
const { heldoutLoss } = await import('../../../packages/evaluation/src/index.ts');
const { PRETRAINED_DEFAULT_DIR } = await import('../src/model-source.ts');
const { demoRun } = await import('../src/default-demo.ts');

const dir = process.argv[2] ?? PRETRAINED_DEFAULT_DIR;
await selectNodeBackend('wasm', () => {});
const { config, weights } = await loadGpt2Dir(dir);
const w = toWeights(weights);
const m = new FullModel(config, w, { lora: { r: 1, alpha: 1, dropout: 0, targets: ['q'] }, optimizer: { lr: 0, ...SPLITLORA_ADAMW } });
const pretrainHeldout = (await heldoutLoss(m, encodeExamples(restaurantCorpusExamples(DEFAULT_CORPUS.heldout)))).meanNll;
m.dispose();
disposeWeights(w);
const t0 = performance.now();
const settings = process.env.DEMO_SETTINGS ? JSON.parse(process.env.DEMO_SETTINGS) : undefined; // tuning only
const demo = await demoRun(config, weights, { steps: 50, heldout: 100, evalEvery: 10, generate: 3, settings });
const before = demo.curve[0].heldoutNll;
const after = demo.curve[demo.curve.length - 1].heldoutNll;
console.error(`pretraining held-out NLL ${pretrainHeldout.toFixed(4)}; demo held-out ${before.toFixed(4)} → ${after.toFixed(4)} after 50 steps (${(100 * (1 - after / before)).toFixed(1)} % lower)`);
for (const g of demo.generations) console.error(`MR: ${g.mr}\n  before: ${g.before}\n  after:  ${g.after}`);
console.log(JSON.stringify({ model: dir, pretrainHeldoutNll: pretrainHeldout, demo: { curve: demo.curve, drop: 1 - after / before, seconds: (performance.now() - t0) / 1000, generations: demo.generations } }));

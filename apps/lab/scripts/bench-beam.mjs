#!/usr/bin/env node
// `npm run bench:beam [-- --mrs 32 --batch 16 --beams 10 --spread --model DIR --data FILE]`:
// E2E beam search (E2E_BEAM settings) one MR at a time (beamSearch) against batched
// (beamSearchBatch), side by side on wasm: seconds per MR each, the ratio, and how many outputs are
// identical token for token. MRs: the first n unique MRs of the data (as `eval --limit n`), or with
// --spread n spread evenly over the file, whose prompt lengths are the whole file's.
// Prints one JSON object; a summary goes to stderr.
import { parseArgs } from 'node:util';
import { register } from 'tsx/esm/api';

register();
const { selectNodeBackend } = await import('../../../packages/backend/src/node.ts');
const { readDataFile } = await import('../../../packages/data/src/files-node.ts');
const { e2eMissingHelp, findE2EFile } = await import('../../../packages/data/src/e2e-location.ts');
const { loadGpt2Dir } = await import('../../../packages/model/src/node.ts');
const { E2E_BEAM, FullModel, SPLITLORA_ADAMW, beamSearch, beamSearchBatch, toWeights, disposeWeights } = await import('../../../packages/model/src/index.ts');
const { e2ePrompt, groupByMr } = await import('../../../packages/evaluation/src/index.ts');

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: 'packages/model/assets/gpt2-restaurants-nano' },
    // Default: the E2E test split wherever the data is (SPLITLORA_E2E_DIR, the data:e2e cache, ../shared).
    data: { type: 'string' },
    mrs: { type: 'string', default: '32' },
    batch: { type: 'string', default: '16' },
    beams: { type: 'string', default: String(E2E_BEAM.beams) },
    spread: { type: 'boolean', default: false },
  },
});
const count = Number(a.mrs), batchSize = Number(a.batch), beams = Number(a.beams);
for (const [name, v] of [['--mrs', count], ['--batch', batchSize], ['--beams', beams]]) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be an integer >= 1, got ${v}`);
}

const data = a.data ?? findE2EFile('lora-format/test.txt');
if (!data) {
  process.stderr.write(`bench:beam needs the E2E test split (or --data FILE). ${e2eMissingHelp()}\n`);
  process.exit(1);
}
await selectNodeBackend('wasm', () => {});
const all = groupByMr((await readDataFile(data, 'auto')).examples).mrs;
const n = Math.min(count, all.length);
const mrs = a.spread ? Array.from({ length: n }, (_, i) => all[Math.floor((i * all.length) / n)]) : all.slice(0, n);
const prompts = mrs.map(e2ePrompt);
const { config, weights } = await loadGpt2Dir(a.model);
const w = toWeights(weights);
// As the evaluation runs it: an r = 4 adapter on q and v (B = 0, so the base model's outputs).
const model = new FullModel(config, w, { lora: { r: 4, alpha: 32, dropout: 0, targets: ['q', 'v'] }, optimizer: { lr: 0, ...SPLITLORA_ADAMW } });
const opts = { ...E2E_BEAM, beams };
await beamSearch(model, prompts[0], { ...opts, maxNewTokens: 2 }); // warm-up: kernels, the head's wteᵀ copy

// CPU seconds too: on a shared machine they move less than wall time.
const cpuSeconds = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
let t0 = performance.now(), c0 = cpuSeconds();
const single = [];
for (const p of prompts) single.push(await beamSearch(model, p, opts));
const singleSeconds = (performance.now() - t0) / 1000, singleCpu = cpuSeconds() - c0;
t0 = performance.now();
c0 = cpuSeconds();
let batches = 0;
const batched = await beamSearchBatch(model, prompts, { ...opts, batchSize, onProgress: () => batches++ });
const batchedSeconds = (performance.now() - t0) / 1000, batchedCpu = cpuSeconds() - c0;
model.dispose();
disposeWeights(w);

const identical = single.filter((g, i) => g.length === batched[i].length && g.every((t, j) => t === batched[i][j])).length;
const lengths = new Map();
for (const p of prompts) lengths.set(p.length, (lengths.get(p.length) ?? 0) + 1);
const result = {
  model: a.model, data, mrs: n, selection: a.spread ? 'spread' : 'first', beams, batchSize,
  distinctPromptLengths: lengths.size, batches, meanNewTokens: single.reduce((s, g) => s + g.length, 0) / n,
  singleSecondsPerMr: singleSeconds / n, batchedSecondsPerMr: batchedSeconds / n, speedup: singleSeconds / batchedSeconds,
  singleCpuSecondsPerMr: singleCpu / n, batchedCpuSecondsPerMr: batchedCpu / n, cpuSpeedup: singleCpu / batchedCpu,
  identical,
};
console.error(`${n} MRs (${result.selection}; ${lengths.size} prompt lengths → ${batches} batches of ≤ ${batchSize}), beam ${beams}: one at a time ${result.singleSecondsPerMr.toFixed(3)} s/MR, batched ${result.batchedSecondsPerMr.toFixed(3)} s/MR, ${result.speedup.toFixed(2)}× faster (CPU ${result.singleCpuSecondsPerMr.toFixed(3)} vs ${result.batchedCpuSecondsPerMr.toFixed(3)} s/MR, ${result.cpuSpeedup.toFixed(2)}×); identical outputs ${identical}/${n}`);
console.log(JSON.stringify(result));

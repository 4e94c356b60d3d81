#!/usr/bin/env node
// `npm run measure:e2e-base -- --e2e DIR [--mrs 50] [--limit N] MODEL_DIR...`: what a benchmark base
// brings to real E2E, without any fine-tuning:
//  1. held-out NLL of the test split's references given their MRs (as `splitlora score` computes it;
//     --limit scores only the first N lines);
//  2. copy rate: for --mrs MRs spread evenly over the test split's unique MRs, a greedy decode
//     (prompt = BPE(MR) + <|endoftext|>, as in fine-tuning) and the share of outputs that contain
//     the MR's name verbatim, its area, its near value, and every slot (statesFact).
// MODEL_DIR defaults to the shipped default. Prints one JSON object; samples go to stderr.
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { register } from 'tsx/esm/api';

register();
const { selectNodeBackend } = await import('../../../packages/backend/src/node.ts');
const { decodeTokens, encodeExamples, encodeText, EOS, parseMr, canonicalSlot, statesFact } = await import('../../../packages/data/src/index.ts');
const { readDataFile } = await import('../../../packages/data/src/files-node.ts');
const { greedyDecode, E2E_BEAM } = await import('../../../packages/model/src/index.ts');
const { heldoutLoss } = await import('../../../packages/evaluation/src/index.ts');
const { loadModel } = await import('../src/load-model.ts');
const { PRETRAINED_DEFAULT_DIR } = await import('../src/model-source.ts');

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { e2e: { type: 'string' }, mrs: { type: 'string', default: '50' }, limit: { type: 'string' }, samples: { type: 'string', default: '4' } },
});
if (!flags.e2e) {
  console.error('usage: npm run measure:e2e-base -- --e2e DIR [--mrs 50] [--limit N] [MODEL_DIR...]   (DIR holds the lora-format test.txt)');
  process.exit(2);
}
const testFile = join(resolve(flags.e2e), 'test.txt');
const nMrs = Number(flags.mrs);
const nSamples = Number(flags.samples);
await selectNodeBackend('wasm', () => {});
const { examples } = await readDataFile(testFile);
const scored = flags.limit ? examples.slice(0, Number(flags.limit)) : examples;
const unique = [...new Set(examples.map((e) => e.context))];
const picked = Array.from({ length: Math.min(nMrs, unique.length) }, (_, i) => unique[Math.floor((i * unique.length) / Math.min(nMrs, unique.length))]);

const results = [];
for (const dir of positionals.length ? positionals : [PRETRAINED_DEFAULT_DIR]) {
  const loaded = await loadModel(dir);
  try {
    let t0 = performance.now();
    const nll = await heldoutLoss(loaded.model, encodeExamples(scored), { batch: 16 });
    const nllSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    const counts = { name: [0, 0], area: [0, 0], near: [0, 0], allSlots: [0, 0] };
    const samples = [];
    for (const mr of picked) {
      const tokens = await greedyDecode(loaded.model, [...encodeText(mr), EOS], { maxNewTokens: 64, stopTokens: E2E_BEAM.stopTokens });
      const out = decodeTokens(tokens.filter((t) => !E2E_BEAM.stopTokens.includes(t))).trim();
      const slots = Object.entries(parseMr(mr)).map(([k, v]) => [canonicalSlot(k), v]);
      const has = (slot) => slots.find(([k]) => k === slot)?.[1];
      for (const slot of ['name', 'area', 'near']) {
        const v = has(slot);
        if (v === undefined) continue;
        counts[slot][1]++;
        if (out.includes(v)) counts[slot][0]++;
      }
      counts.allSlots[1]++;
      if (slots.every(([k, v]) => statesFact(out, k, v))) counts.allSlots[0]++;
      if (samples.length < nSamples) samples.push({ mr, output: out });
    }
    const rate = Object.fromEntries(Object.entries(counts).map(([k, [hit, n]]) => [k, { hit, of: n, rate: n ? hit / n : null }]));
    const r = { model: loaded.dir, testNll: nll.meanNll, testLines: nll.examples, testTokens: nll.tokens, nllSeconds, copy: rate, copyMrs: picked.length, decodeSeconds: (performance.now() - t0) / 1000, samples };
    console.error(`${loaded.dir}: test NLL ${nll.meanNll.toFixed(3)} on ${nll.examples} lines; copy name ${counts.name[0]}/${counts.name[1]}, area ${counts.area[0]}/${counts.area[1]}, near ${counts.near[0]}/${counts.near[1]}, every slot ${counts.allSlots[0]}/${counts.allSlots[1]}`);
    for (const s of samples) console.error(`  MR: ${s.mr}\n  →  ${s.output}`);
    results.push(r);
  } finally {
    loaded.dispose();
  }
}
console.log(JSON.stringify({ testFile, results }, null, 1));

// The bench run folder: report.md (tables, latency-model assumptions, plots), SVG plots, raw JSON
// and CSV. Also the `--json` line: one object keyed by method.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PRESETS, defaultCut, type GPT2Config } from '@splitlora/model';
import { formatTable } from '../table';
import { stepFlops, messageSizes } from '../cost-model';
import type { BenchResult, MethodReport } from './bench';
import { modelledTime, type LatencyParams, type MethodWork } from './latency';
import { barChart, lineChart } from './svg';
import { METHOD_NAMES, type Method, type TrainSettings } from './types';

export interface ReportMeta {
  command: string;
  modelId: string;
  config: GPT2Config;
  dataSource: string;
  partition: string;
  heldoutExamples: number;
  /** Where the E2E metrics' MRs came from, and how many were decoded (null: no E2E metrics). */
  e2e?: { source: string; mrs: number; beams: number } | null;
  backend: string;
  startedAt: string;
}

const reports = (r: BenchResult) => Object.values(r.methods) as MethodReport[];
const mb = (b: number) => `${(b / 2 ** 20).toFixed(2)} MB`;
const kb = (b: number) => (b >= 2 ** 20 ? mb(b) : `${(b / 1024).toFixed(1)} KB`);
const secs = (s: number | null) => (s === null ? 'not reached' : s < 1 ? `${(s * 1000).toFixed(1)} ms` : s < 120 ? `${s.toFixed(2)} s` : `${(s / 60).toFixed(1)} min`);
const num = (x: number) => x.toLocaleString('en-US');
const f = (x: number | null | undefined, d: number) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

/** The `--json` line: one object keyed by method with the reported fields. */
export function jsonByMethod(r: BenchResult): Record<string, unknown> {
  return Object.fromEntries(reports(r).map((m) => [m.method, {
    name: m.name, clients: m.clients, steps: m.steps, aggregations: m.aggregations,
    curve: m.curve, finalHeldoutLoss: m.finalHeldoutLoss, finalPerplexity: m.finalPerplexity, e2e: m.e2e,
    trainableParams: m.trainableParams, clientFlopsPerStep: m.clientFlopsPerStep, serverFlopsPerStep: m.serverFlopsPerStep,
    bytesPerClient: m.bytesPerClient, modelDownloadBytes: m.modelDownloadBytes, peakClientBytes: m.peakClientBytes, peakCentralBytes: m.peakCentralBytes,
    modelledSeconds: m.modelledSeconds, modelledStep: m.modelled, wallSeconds: m.wallSeconds,
    timeToTarget: { targetPerplexity: r.targetPerplexity, ...m.timeToTarget }, speedup: m.speedup, backends: m.backends,
    phaseSeconds: m.phaseSeconds,
  }]));
}

function latencyLines(p: LatencyParams): string[] {
  return [
    `| client FLOP rate | ${p.clientFlops / 1e12} TFLOP/s | \`--client-tflops\` |`,
    `| server FLOP rate (SplitLoRA) | ${p.serverFlops / 1e12} TFLOP/s | \`--server-tflops\` |`,
    `| central FLOP rate (CenLoRA) | ${p.centralFlops / 1e12} TFLOP/s | \`--central-tflops\` |`,
    `| uplink per client | ${p.uplinkBps / 1e6} Mbit/s | \`--uplink-mbps\` |`,
    `| downlink per client | ${p.downlinkBps / 1e6} Mbit/s | \`--downlink-mbps\` |`,
    `| round-trip time | ${p.rttSeconds * 1000} ms | \`--rtt-ms\` |`,
  ];
}

export const LATENCY_ASSUMPTIONS = [
  'Compute time = FLOPs / rate. FLOPs are matmul FLOPs (multiply-add = 2; `apps/lab/src/cost-model.ts`): frozen weights need only their input gradient in backward, LoRA and attention products both; LayerNorm, GELU and softmax are not counted. Rates are sustained, not peak.',
  'A message takes bytes·8 / bandwidth; each request/reply exchange adds one round trip. Bytes are the protocol\'s own messages (msgpack over socket.io, WebSocket frame headers included) for batches of the run\'s mean length.',
  'All clients are identical and run in parallel, in lock-step rounds; each has its own link, and the server\'s link is never the bottleneck.',
  'SplitLoRA: per local step a client runs its forward pass, sends the activations, the server runs its part for all N clients\' activations one after another (N × its FLOPs at the server rate), returns the gradients, and the client recomputes its forward pass and back-propagates. Nothing overlaps. Every I steps: adapter up, average down, one round trip.',
  'FedLoRA: per local step a client runs the whole model; every I steps the whole adapter goes up and the average comes down, with one round trip. Averaging itself takes no time.',
  'CenLoRA: the data already sits on one central machine (its one-off upload is counted in bytes, not time), which takes all N·S steps one after another at the central rate. By default that machine is client-class (`--central-tflops` = the client rate); set it to the server rate to model pooling the data in the data centre.',
  'Model downloads, evaluation and start-up are not timed.',
];

/** Modelled per-step and total times of the same settings on GPT-2 S and M (cut = a quarter of the blocks). */
function projection(r: BenchResult, meanT: number): string {
  const s = r.settings;
  const rows: (string | number)[][] = [];
  for (const [name, cfg] of [['gpt2', PRESETS.gpt2], ['gpt2-medium', PRESETS['gpt2-medium']]] as const) {
    const cut = defaultCut(cfg);
    const timed = (Object.keys(r.methods) as Method[]).map((method) => {
      const labels = s.labels ?? 'server';
      const fl = stepFlops(method, cfg, s.lora, cut, s.batch, meanT, labels);
      const m = messageSizes(method, cfg, s.lora, cut, s.batch, Math.max(1, Math.round(meanT)), s.wire, labels);
      const w: MethodWork = { method, clients: s.clients, steps: s.steps, interval: s.interval, clientStepFlops: fl.client, serverStepFlops: fl.server, stepUpBytes: m.stepUp, stepDownBytes: m.stepDown, aggUpBytes: m.aggUp, aggDownBytes: m.aggDown, ...(method === 'split' && labels === 'client' ? { stepRoundTrips: 2 } : {}) };
      return { method, clientFlops: fl.client, t: modelledTime(w, r.latency) };
    });
    const split = timed.find((x) => x.method === 'split')?.t.totalSeconds;
    for (const x of timed) {
      rows.push([name, cut, METHOD_NAMES[x.method], f(x.clientFlops / 1e9, 2), secs(x.t.stepSeconds), secs(x.t.aggregationSeconds), secs(x.t.totalSeconds), split ? f(x.t.totalSeconds / split, 2) : '–']);
    }
  }
  return formatTable(['model', 'cut', 'method', 'client GFLOP/step', 'step', 'aggregation', `${s.steps} steps`, '÷ SplitLoRA'], rows);
}

function settingsTable(s: TrainSettings, meta: ReportMeta): string {
  const c = meta.config;
  return formatTable(['setting', 'value'], [
    ['model', `${meta.modelId} (${c.nLayer} layers, d=${c.nEmbd}, ${c.nHead} heads, vocab ${c.vocabSize}, ${c.nPositions} positions)`],
    ['data', meta.dataSource], ['partition', meta.partition], ['held-out examples', meta.heldoutExamples],
    ['clients', s.clients], ['cut (client blocks)', s.cut], ['LoRA', `r=${s.lora.r}, alpha=${s.lora.alpha}, dropout=${s.lora.dropout}, on ${s.lora.targets.join(',')}`],
    ['interval I (local steps)', s.interval], ['steps S per client', s.steps], ['batch × max seq len', `${s.batch} × ${s.seqLen}`],
    ['learning rate (AdamW, constant, all optimisers)', s.lr], ['label smoothing', s.labelSmoothing], ['wire format', s.wire], ['seed', s.seed],
    ...(s.labels === 'client' ? [['SplitLoRA labels', 'client (U-shaped: the volunteers compute the loss, two round trips per step)']] : []),
    ...(meta.e2e ? [['E2E metrics', `${meta.e2e.mrs} MRs of ${meta.e2e.source}, beam ${meta.e2e.beams}`]] : []),
    ['tfjs backend', meta.backend],
  ]);
}

function resultTables(r: BenchResult): string {
  const ms = reports(r);
  const acc = formatTable(
    ['method', 'held-out loss (start → end)', 'perplexity (end)', 'best', 'BLEU', 'NIST', 'METEOR', 'ROUGE-L', 'CIDEr'],
    ms.map((m) => [m.name, `${f(m.curve[0].heldoutLoss, 4)} → ${f(m.finalHeldoutLoss, 4)}`, f(m.finalPerplexity, 2), f(m.bestPerplexity, 2),
      f(m.e2e && 100 * m.e2e.BLEU, 2), f(m.e2e?.NIST, 3), f(m.e2e?.METEOR, 4), f(m.e2e && 100 * m.e2e.ROUGE_L, 2), f(m.e2e?.CIDEr, 3)]),
  );
  const cost = formatTable(
    ['method', 'trainable client / server', 'client GFLOP/step', 'server GFLOP/client step', 'bytes/client up / down', 'model download', 'peak client memory'],
    ms.map((m) => [m.name, `${num(m.trainableParams.client)} / ${num(m.trainableParams.server)}`, f(m.clientFlopsPerStep / 1e9, 3), f(m.serverFlopsPerStep / 1e9, 3),
      `${kb(m.bytesPerClient.up)} / ${kb(m.bytesPerClient.down)}`, kb(m.modelDownloadBytes), m.method === 'cen' ? `0 (central: ${mb(m.peakCentralBytes ?? 0)})` : mb(m.peakClientBytes)]),
  );
  const others = ms.map((m) => m.method);
  const time = formatTable(
    ['method', 'modelled step', 'of which client / server / comm', 'aggregation', 'modelled total', 'measured wall', 'to target (modelled)', 'to target (wall)', ...others.map((o) => `× sooner than ${METHOD_NAMES[o]}`)],
    ms.map((m) => [m.name, secs(m.modelled.stepSeconds), `${secs(m.modelled.clientComputeSeconds)} / ${secs(m.modelled.serverComputeSeconds)} / ${secs(m.modelled.commSeconds)}`,
      secs(m.modelled.aggregationSeconds), secs(m.modelledSeconds), secs(m.wallSeconds), secs(m.timeToTarget.modelledSeconds), secs(m.timeToTarget.wallSeconds),
      ...others.map((o) => (o === m.method ? '–' : f(m.speedup[o] ?? null, 2)))]),
  );
  const phases = formatTable(
    ['method', 'training', 'held-out loss', 'E2E outputs + metrics', 'peak memory', 'total'],
    ms.map((m) => {
      const p = m.phaseSeconds;
      return [m.name, secs(p.train), secs(p.heldout), secs(p.e2e), secs(p.memory), secs(p.train + p.heldout + p.e2e + p.memory)];
    }),
  );
  return [
    '### Accuracy', '', '```', acc, '```', '',
    'Held-out loss: mean completion-token NLL without label smoothing (packages/evaluation `heldoutLoss`). E2E metrics: beam-search outputs of the final adapter for the held-out MRs (or those of `--e2e-data`, each against all its references), scored by packages/metrics (BLEU and ROUGE-L ×100).', '',
    '### Cost', '', '```', cost, '```', '',
    'Bytes: SplitLoRA is measured on its sockets (WebSocket payloads + frame headers); FedLoRA is the same protocol\'s adapter and aggregate messages; CenLoRA is each client\'s shard uploaded once as JSONL. The model download (float32 weights over HTTP) is apart.',
    'Peak client memory: the largest `tf.memory().numBytes` during one training step of the longest batch, from nothing (frozen weights the device holds, adapter, AdamW state, intermediates), measured with `tf.profile`; backend scratch space (e.g. the wasm heap) is not counted.', '',
    '### Time', '', '```', time, '```', '',
    `Target held-out perplexity: **${f(r.targetPerplexity, 3)}** (${r.targetSource === 'given' ? 'given with --target-ppl' : 'default: 80% of the way, in held-out loss, from the shared start to the worst of the methods\' best losses, so every method reaches it'}). Time to target interpolates linearly between checkpoints. "× sooner than X" = X's modelled time to target ÷ this method's. For reference, the paper reports SplitLoRA ≈1.7× sooner than FedLoRA and ≈4.7× sooner than CenLoRA on GPT-2 S.`, '',
    '### Where the bench\'s time went', '', '```', phases, '```', '',
    'Measured wall time of each phase of this bench. Evaluation is not part of any method\'s training time above; `--quick` makes it cheap (fewer held-out examples and checkpoints, greedy E2E outputs for a few MRs).',
  ].join('\n');
}

/** Writes report.md, the plots, results.json and the CSVs into `dir`. Returns the report path. */
export async function writeBenchReport(dir: string, r: BenchResult, meta: ReportMeta): Promise<string> {
  await mkdir(dir, { recursive: true });
  const ms = reports(r);
  const svgs: Record<string, string> = {
    'loss-vs-steps.svg': lineChart('Held-out loss vs. training batches', 'batches processed (Σ over clients)', 'held-out NLL', ms.map((m) => ({ name: m.name, points: m.curve.map((p) => [p.globalStep, p.heldoutLoss]) }))),
    'loss-vs-time.svg': lineChart('Held-out loss vs. modelled time', 'modelled seconds', 'held-out NLL', ms.map((m) => ({ name: m.name, points: m.curve.map((p) => [p.modelledSeconds, p.heldoutLoss]) }))),
    'bytes.svg': barChart('Bytes per client over the run (model download apart)', 'bytes', ['up', 'down'], ms.map((m) => ({ label: m.name, values: [m.bytesPerClient.up, m.bytesPerClient.down] }))),
    'client-cost.svg': sideBySide([
      barChart('Client compute per local step', 'GFLOP', ['GFLOP/step'], ms.map((m) => ({ label: m.name, values: [m.clientFlopsPerStep / 1e9] }))),
      barChart('Peak client memory (one step)', 'MB', ['MB'], ms.map((m) => ({ label: m.name, values: [m.peakClientBytes / 2 ** 20] }))),
    ]),
  };
  for (const [name, svg] of Object.entries(svgs)) await writeFile(join(dir, name), svg);
  await writeFile(join(dir, 'results.json'), JSON.stringify({ meta, ...r }, null, 2) + '\n');
  const csv = (header: string[], rows: (string | number | null)[][]) => [header.join(','), ...rows.map((x) => x.map((v) => (v === null ? '' : String(v))).join(','))].join('\n') + '\n';
  await writeFile(join(dir, 'curves.csv'), csv(['method', 'global_step', 'round', 'heldout_loss', 'perplexity', 'modelled_seconds', 'wall_seconds'],
    ms.flatMap((m) => m.curve.map((p) => [m.method, p.globalStep, p.round, p.heldoutLoss, p.perplexity, p.modelledSeconds, p.wallSeconds]))));
  await writeFile(join(dir, 'train-losses.csv'), csv(['method', 'client', 'local_step', 'loss'],
    (Object.entries(r.losses) as [Method, number[][]][]).flatMap(([method, ls]) => ls.flatMap((l, c) => l.map((x, j) => [method, c, j + 1, x])))));
  await writeFile(join(dir, 'summary.csv'), csv(
    ['method', 'final_heldout_loss', 'final_perplexity', 'bleu', 'nist', 'meteor', 'rouge_l', 'cider', 'trainable_client', 'trainable_server', 'client_flops_per_step', 'server_flops_per_client_step', 'bytes_up_per_client', 'bytes_down_per_client', 'model_download_bytes', 'peak_client_bytes', 'modelled_seconds', 'wall_seconds', 'target_perplexity', 'modelled_seconds_to_target', 'wall_seconds_to_target'],
    ms.map((m) => [m.method, m.finalHeldoutLoss, m.finalPerplexity, m.e2e?.BLEU ?? null, m.e2e?.NIST ?? null, m.e2e?.METEOR ?? null, m.e2e?.ROUGE_L ?? null, m.e2e?.CIDEr ?? null,
      m.trainableParams.client, m.trainableParams.server, m.clientFlopsPerStep, m.serverFlopsPerStep, m.bytesPerClient.up, m.bytesPerClient.down, m.modelDownloadBytes,
      m.peakClientBytes, m.modelledSeconds, m.wallSeconds, r.targetPerplexity, m.timeToTarget.modelledSeconds, m.timeToTarget.wallSeconds])));
  const meanT = ms.reduce((a, m) => a + m.meanSeqLen, 0) / Math.max(1, ms.length);
  const md = [
    '# SplitLoRA benchmark: CenLoRA, SplitLoRA and FedLoRA', '',
    `Run ${meta.startedAt}. Command:`, '', '```', meta.command, '```', '',
    '## Settings', '', 'All methods share the data, partition, seeds and hyper-parameters. CenLoRA trains one whole model on the pooled shards for clients × S steps (as many batches as the others in total); SplitLoRA is this system in process (the real server and volunteer loop over loopback sockets); FedLoRA gives every client the whole model with LoRA and averages the adapters (example-weighted) every I local steps.', '',
    '```', settingsTable(r.settings, meta), '```', '',
    '## Results', '', resultTables(r), '',
    '## Plots', '', '![held-out loss vs. steps](loss-vs-steps.svg)', '', '![held-out loss vs. modelled time](loss-vs-time.svg)', '', '![bytes per client](bytes.svg)', '', '![client cost](client-cost.svg)', '',
    '## Latency model', '', '| parameter | value | flag |', '|---|---|---|', ...latencyLines(r.latency), '', 'Assumptions:', '', ...LATENCY_ASSUMPTIONS.map((a) => `- ${a}`), '',
    `### The same settings on GPT-2 S and M (modelled only, batches of ${meanT.toFixed(1)} tokens)`, '',
    'Per-step costs change with the model: at GPT-2 scale the client part is a small share of the FLOPs, which is where SplitLoRA gains. This table applies the latency model to the same hyper-parameters; it trains nothing.', '',
    '```', projection(r, meanT), '```', '',
    '## Files', '', '- `results.json`: everything above, raw', '- `summary.csv`: one row per method', '- `curves.csv`: held-out loss per checkpoint', '- `train-losses.csv`: training loss per client and local step', '',
  ].join('\n');
  const path = join(dir, 'report.md');
  await writeFile(path, md);
  return path;
}

/** Several charts next to each other in one SVG. */
export function sideBySide(charts: string[]): string {
  const w = 640;
  const h = 380;
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${w * charts.length}" height="${h}" viewBox="0 0 ${w * charts.length} ${h}">`,
    ...charts.map((c, i) => `<g transform="translate(${i * w} 0)">${c}</g>`), '</svg>', ''].join('\n');
}

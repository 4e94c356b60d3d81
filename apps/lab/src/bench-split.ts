// bench-split: what splitting the model costs. For a gpt2-shaped and a nano model it measures
// (1) where a split step's time goes: client compute, codec + a real socket.io/msgpack loopback
// round trip, server compute; (2) the split step against the same step unsplit; (3) bytes per
// token and the loss drift each wire format causes over 50 training steps, which picks the
// default format; (4) ServerEngine throughput with 1–8 concurrent clients, batched or not.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as tf from '@tensorflow/tfjs';
import { Server } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { selectNodeBackend } from '@splitlora/backend/node';
import { encodeExamples, makeBatch, syntheticE2E, type Batch } from '@splitlora/data';
import {
  ClientModel, DEFAULT_LORA, FullModel, PRESETS, SPLITLORA_ADAMW, ServerModel, defaultCut, initGpt2Weights, maskWeights, toWeights,
  type GPT2Config, type SubModelOptions, type TensorRecord, type Weights,
} from '@splitlora/model';
import {
  PROTOCOL_VERSION, WIRE_FORMATS, decodeTensor, encodeTensor, msgpackParser, validate, wireBytes,
  type ActivationsMessage, type GradientMessage, type HostTensor, type WireFormat,
} from '@splitlora/protocol';
import { LocalServerCompute, ServerEngine, TorchCompute, WorkerServerCompute, sharedRecord, type ResolvedEngine, type ServerCompute, type ServerPartSpec } from '@splitlora/server';
import type { Experiment } from './experiment';
import { formatTable } from './table';

export interface SplitBenchOptions {
  /** tfjs backend name or 'auto' (default). */
  backend?: string;
  /** Fewer iterations and a smaller gpt2 batch: about a third of the full run's time. */
  quick?: boolean;
  /** Where tables and progress go (default: stderr). */
  log?: (s: string) => void;
  /** The server's engine for part (4), the throughput (default tfjs, in this thread). */
  engine?: ResolvedEngine;
}

/** A server part for part (4): tfjs in this thread, or a part opened on the torch engine's child. */
type PartFactory = (spec: ServerPartSpec) => Promise<ServerCompute>;

export interface Spec {
  name: string;
  cfg: GPT2Config;
  batch: number;
  seqLen: number;
}

const SMOOTHING = 0.1;
/** Higher than the reference's 2e-4 so that 50 steps move the loss visibly. */
const WIRE_LR = 5e-3;
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
const f = (x: number, d: number) => x.toFixed(d);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function subOpts(seed: number): SubModelOptions {
  return { lora: { ...DEFAULT_LORA }, optimizer: { lr: 2e-4, ...SPLITLORA_ADAMW }, seed };
}

/** `count` real E2E-style batches [B, ≤T] (synthetic, seeded), cycling over one shuffled set. */
function batches(B: number, T: number, count: number, seed = 0): Batch[] {
  const data = encodeExamples(syntheticE2E({ n: B * count, seed }));
  return Array.from({ length: count }, (_, i) => makeBatch(data.slice(i * B, (i + 1) * B), { maxLen: T }));
}

/** Waits for the client's pending optimiser step (tfjs runs async on some backends). */
async function sync(m: ClientModel): Promise<void> {
  await Object.values(m.vars)[0].data();
}

// ---- a loopback socket.io pair with the project's msgpack parser --------------------------

export interface Loopback {
  client: ClientSocket;
  /** The server-side handler for 'activations': returns the gradient message. */
  setHandler(h: (m: ActivationsMessage) => Promise<GradientMessage>): void;
  close(): Promise<void>;
}

export async function loopback(): Promise<Loopback> {
  const http = createServer();
  // Long pings: a gpt2 step blocks this one event loop for seconds, which must not look like a dead peer.
  const io = new Server(http, { parser: msgpackParser, maxHttpBufferSize: 256 * 1024 * 1024, pingInterval: 600_000, pingTimeout: 600_000 });
  let handler: ((m: ActivationsMessage) => Promise<GradientMessage>) | null = null;
  io.on('connection', (s) => {
    // As the real server: schema-check every incoming message before use.
    s.on('activations', async (raw: unknown) => {
      try {
        s.emit('gradient', await handler!(validate('activations', raw)));
      } catch (e) {
        s.emit('bench-error', e instanceof Error ? e.message : String(e)); // surface it: the client would wait forever
      }
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  const client = connect(`http://127.0.0.1:${port}`, { parser: msgpackParser, transports: ['websocket'], reconnection: false });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('connect_error', reject);
  });
  return {
    client,
    setHandler: (h) => { handler = h; },
    close: async () => {
      client.close();
      await new Promise<void>((r) => io.close(() => r()));
    },
  };
}

function roundTrip(lb: Loopback, msg: ActivationsMessage): Promise<GradientMessage> {
  return new Promise((resolve, reject) => {
    const fail = (m: string) => reject(new Error(`loopback server: ${m}`));
    lb.client.once('bench-error', fail);
    lb.client.once('disconnect', (why) => fail(`disconnected (${why})`));
    lb.client.once('gradient', (raw: unknown) => {
      lb.client.off('bench-error', fail);
      resolve(validate('gradient', raw));
    });
    lb.client.emit('activations', msg);
  });
}

// ---- (1) + (2): one split step, timed by part, against the unsplit step ------------------

export interface StepTiming {
  model: string;
  shape: string;
  cut: number;
  tokens: number;
  wire: WireFormat;
  clientForwardMs: number;
  clientBackwardMs: number;
  clientMs: number;
  serverMs: number;
  /** Encode + msgpack + socket.io loopback both ways + decode + schema checks. */
  transportMs: number;
  /** Of transportMs: encodeTensor/decodeTensor alone, both directions. */
  codecMs: number;
  splitMs: number;
  unsplitMs: number;
  /** splitMs / unsplitMs. */
  ratio: number;
  /** (clientMs + serverMs) / unsplitMs: the cost of recomputing the client forward. */
  computeRatio: number;
  messageBytes: number;
}

export async function timeSplit(spec: Spec, weights: Weights, lb: Loopback, wire: WireFormat, warmup: number, iters: number): Promise<StepTiming> {
  const { cfg } = spec;
  const cut = defaultCut(cfg);
  const client = new ClientModel(cfg, weights, cut, subOpts(1));
  const server = new ServerModel(cfg, weights, cut, subOpts(2));
  const full = new FullModel(cfg, weights, subOpts(1));
  const bs = batches(spec.batch, spec.seqLen, warmup + iters, 7);
  const d = cfg.nEmbd;
  let serverMs = 0;
  let codecMs = 0;
  lb.setHandler(async (m) => {
    let t = performance.now();
    const acts = decodeTensor(m.acts);
    codecMs += performance.now() - t;
    t = performance.now();
    const input = tf.tensor3d(acts.data, acts.shape as [number, number, number]);
    const r = await server.step(input, m.targets, maskWeights(m.mask as Float32Array), { smoothing: SMOOTHING, dropoutSeed: m.step });
    input.dispose();
    const g = (await r.gradActs.data()) as Float32Array;
    r.gradActs.dispose();
    serverMs += performance.now() - t;
    t = performance.now();
    const grad = encodeTensor({ shape: acts.shape, data: g }, wire);
    codecMs += performance.now() - t;
    return { v: PROTOCOL_VERSION, runId: 'bench', step: m.step, grad, loss: r.loss };
  });
  const rows: { fwd: number; bwd: number; server: number; codec: number; split: number; unsplit: number; bytes: number }[] = [];
  try {
    for (const [i, b] of bs.entries()) {
      serverMs = 0;
      codecMs = 0;
      const t0 = performance.now();
      const acts = client.forward(b.ids, b.batch, b.seqLen, i);
      const data = (await acts.data()) as Float32Array;
      acts.dispose();
      const t1 = performance.now();
      let t = performance.now();
      const msg: ActivationsMessage = {
        v: PROTOCOL_VERSION, runId: 'bench', step: i, round: 0, batch: b.batch, seqLen: b.seqLen,
        acts: encodeTensor({ shape: [b.batch, b.seqLen, d], data }, wire), targets: b.targets, mask: b.mask,
      };
      codecMs += performance.now() - t;
      const reply = await roundTrip(lb, msg);
      t = performance.now();
      const grad = decodeTensor(reply.grad);
      codecMs += performance.now() - t;
      const t2 = performance.now();
      const gradT = tf.tensor(grad.data, grad.shape);
      client.backward(b.ids, b.batch, b.seqLen, i, gradT);
      gradT.dispose();
      await sync(client);
      const t3 = performance.now();
      // The same batch unsplit, in this process, on the same backend.
      const u0 = performance.now();
      await full.step(b, { smoothing: SMOOTHING, dropoutSeed: i });
      const unsplit = performance.now() - u0;
      const bytes = wireBytes(msg.acts.shape, wire) + wireBytes(reply.grad.shape, wire) + b.targets.byteLength + b.mask.byteLength;
      if (i >= warmup) rows.push({ fwd: t1 - t0, bwd: t3 - t2, server: serverMs, codec: codecMs, split: t3 - t0, unsplit, bytes });
    }
  } finally {
    client.dispose();
    server.dispose();
    full.dispose();
  }
  const fwd = mean(rows.map((r) => r.fwd));
  const bwd = mean(rows.map((r) => r.bwd));
  const srv = mean(rows.map((r) => r.server));
  const split = mean(rows.map((r) => r.split));
  const unsplit = mean(rows.map((r) => r.unsplit));
  return {
    model: spec.name, shape: `${cfg.nLayer}×${cfg.nEmbd}`, cut, tokens: bs[0].batch * bs[0].seqLen, wire,
    clientForwardMs: fwd, clientBackwardMs: bwd, clientMs: fwd + bwd, serverMs: srv,
    transportMs: split - fwd - bwd - srv, codecMs: mean(rows.map((r) => r.codec)),
    splitMs: split, unsplitMs: unsplit, ratio: split / unsplit, computeRatio: (fwd + bwd + srv) / unsplit,
    messageBytes: mean(rows.map((r) => r.bytes)),
  };
}

// ---- (1b): codec + transport alone, per wire format (no compute on either side) ----------

interface EchoTiming {
  model: string;
  shape: string;
  wire: WireFormat;
  /** Encode + msgpack + socket.io loopback both ways + decode + schema checks. */
  roundTripMs: number;
  /** Of roundTripMs: encodeTensor/decodeTensor alone, both directions. */
  codecMs: number;
  messageBytes: number;
}

async function timeEcho(name: string, shape: [number, number, number], lb: Loopback, wire: WireFormat, iters: number): Promise<EchoTiming> {
  const n = shape[0] * shape[1] * shape[2];
  const tokens = shape[0] * shape[1];
  // Realistic magnitudes: activations O(1), gradients O(1e-4) (mean over tokens).
  const acts = Float32Array.from({ length: n }, (_, j) => Math.sin(j * 0.37) * 2);
  const grad = Float32Array.from({ length: n }, (_, j) => Math.cos(j * 0.11) * 1e-4);
  const targets = new Int32Array(tokens).fill(50256);
  const mask = new Float32Array(tokens).fill(1);
  let codec = 0;
  lb.setHandler(async (m) => {
    let t = performance.now();
    const a = decodeTensor(m.acts);
    const g = encodeTensor({ shape: a.shape, data: grad }, wire);
    codec += performance.now() - t;
    return { v: PROTOCOL_VERSION, runId: 'bench', step: m.step, grad: g, loss: 1 };
  });
  const rt: number[] = [];
  const cd: number[] = [];
  for (let i = 0; i < iters + 2; i++) {
    codec = 0;
    const t0 = performance.now();
    const msg: ActivationsMessage = {
      v: PROTOCOL_VERSION, runId: 'bench', step: i, round: 0, batch: shape[0], seqLen: shape[1],
      acts: encodeTensor({ shape, data: acts }, wire), targets, mask,
    };
    codec += performance.now() - t0;
    const reply = await roundTrip(lb, msg);
    const t1 = performance.now();
    decodeTensor(reply.grad);
    const t2 = performance.now();
    codec += t2 - t1;
    if (i >= 2) {
      rt.push(t2 - t0);
      cd.push(codec);
    }
  }
  return {
    model: name, shape: shape.join('×'), wire, roundTripMs: mean(rt), codecMs: mean(cd),
    messageBytes: 2 * wireBytes(shape, wire) + targets.byteLength + mask.byteLength,
  };
}

// ---- (3): wire formats: bytes and the loss drift they cause --------------------------------

interface WireRun {
  acts: WireFormat;
  grad: WireFormat;
  /** Cut tensors only (activations + gradient), per token. */
  bytesPerToken: number;
  /** Plus targets (int32) and mask (float32) in the activations message. */
  messageBytesPerToken: number;
  finalLoss: number;
  /** Mean of the last 10 losses, less noisy than the last one. */
  last10Loss: number;
  finalLossDiff: number;
  last10Diff: number;
  meanAbsCurveDiff: number;
  maxAbsCurveDiff: number;
  /** Mean ‖decode(encode(x)) − x‖ / ‖x‖ over the steps. */
  actsRelErr: number;
  gradRelErr: number;
  losses: number[];
}

function roundtripTensor(t: HostTensor, fmt: WireFormat): { out: HostTensor; relErr: number } {
  const out = decodeTensor(encodeTensor(t, fmt));
  let num = 0;
  let den = 0;
  for (let i = 0; i < t.data.length; i++) {
    num += (out.data[i] - t.data[i]) ** 2;
    den += t.data[i] ** 2;
  }
  return { out, relErr: den > 0 ? Math.sqrt(num / den) : 0 };
}

async function trainWithWire(cfg: GPT2Config, weights: Weights, bs: Batch[], actsFmt: WireFormat, gradFmt: WireFormat) {
  const cut = defaultCut(cfg);
  const client = new ClientModel(cfg, weights, cut, { ...subOpts(1), optimizer: { lr: WIRE_LR, ...SPLITLORA_ADAMW } });
  const server = new ServerModel(cfg, weights, cut, { ...subOpts(2), optimizer: { lr: WIRE_LR, ...SPLITLORA_ADAMW } });
  const losses: number[] = [];
  const actsErr: number[] = [];
  const gradErr: number[] = [];
  try {
    for (const [i, b] of bs.entries()) {
      const a = client.forward(b.ids, b.batch, b.seqLen, i);
      const sent = roundtripTensor({ shape: a.shape, data: (await a.data()) as Float32Array }, actsFmt);
      a.dispose();
      const input = tf.tensor3d(sent.out.data, sent.out.shape as [number, number, number]);
      const r = await server.step(input, b.targets, maskWeights(b.mask), { smoothing: SMOOTHING, dropoutSeed: i });
      input.dispose();
      const back = roundtripTensor({ shape: r.gradActs.shape, data: (await r.gradActs.data()) as Float32Array }, gradFmt);
      r.gradActs.dispose();
      const g = tf.tensor(back.out.data, back.out.shape);
      client.backward(b.ids, b.batch, b.seqLen, i, g);
      g.dispose();
      losses.push(r.loss);
      actsErr.push(sent.relErr);
      gradErr.push(back.relErr);
    }
  } finally {
    client.dispose();
    server.dispose();
  }
  return { losses, actsRelErr: mean(actsErr), gradRelErr: mean(gradErr) };
}

async function wireStudy(spec: Spec, weights: Weights, steps: number, pairs: [WireFormat, WireFormat][], log: (s: string) => void): Promise<WireRun[]> {
  const bs = batches(spec.batch, spec.seqLen, steps, 11);
  const d = spec.cfg.nEmbd;
  const runs: WireRun[] = [];
  let ref: number[] = [];
  for (const [acts, grad] of pairs) {
    const t0 = performance.now();
    const r = await trainWithWire(spec.cfg, weights, bs, acts, grad);
    if (acts === 'f32' && grad === 'f32') ref = r.losses;
    const diffs = r.losses.map((l, i) => Math.abs(l - ref[i]));
    const last10 = mean(r.losses.slice(-10));
    const bytesPerToken = wireBytes([1, 1, d], acts) + wireBytes([1, 1, d], grad);
    runs.push({
      acts, grad, bytesPerToken, messageBytesPerToken: bytesPerToken + 8,
      finalLoss: r.losses[r.losses.length - 1], last10Loss: last10,
      finalLossDiff: r.losses[r.losses.length - 1] - ref[ref.length - 1], last10Diff: last10 - mean(ref.slice(-10)),
      meanAbsCurveDiff: mean(diffs), maxAbsCurveDiff: Math.max(...diffs),
      actsRelErr: r.actsRelErr, gradRelErr: r.gradRelErr, losses: r.losses,
    });
    log(`  wire ${acts}/${grad}: ${steps} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s, loss ${f(r.losses[0], 3)} → ${f(r.losses[r.losses.length - 1], 3)}`);
  }
  return runs;
}

/**
 * The smallest symmetric format whose 50-step loss curve stays within `tol` of float32's in
 * mean absolute difference, as a fraction of float32's loss drop over the run (so that the bar
 * scales with how much training happened rather than with the loss's absolute size).
 */
function recommend(runs: WireRun[], tol = 0.01): { format: WireFormat; reason: string } {
  const ref = runs.find((r) => r.acts === 'f32' && r.grad === 'f32')!;
  const drop = Math.max(1e-9, ref.losses[0] - ref.finalLoss);
  const ok = runs
    .filter((r) => r.acts === r.grad && r.meanAbsCurveDiff <= tol * drop && Math.abs(r.last10Diff) <= tol * drop)
    .sort((a, b) => a.bytesPerToken - b.bytesPerToken);
  const pick = ok[0] ?? ref;
  const others = runs.filter((r) => r.acts === r.grad && r !== pick)
    .map((r) => `${r.acts}: ${r.bytesPerToken} B/token, mean |Δloss| ${r.meanAbsCurveDiff.toExponential(2)} (${pct(r.meanAbsCurveDiff / drop)} of the loss drop)`)
    .join('; ');
  const reason = `${pick.acts} is the smallest format whose loss curve stays within ${pct(tol)} of float32's loss drop ` +
    `(${f(drop, 3)} over ${ref.losses.length} steps) in mean |Δloss| and in the last-10-step mean: ` +
    `${pick.bytesPerToken} B/token, mean |Δloss| ${pick.meanAbsCurveDiff.toExponential(2)} (${pct(pick.meanAbsCurveDiff / drop)}). Others: ${others}.`;
  return { format: pick.acts, reason };
}

// ---- (4): ServerEngine throughput with concurrent clients ----------------------------------

export interface ThroughputRow {
  model: string;
  clients: number;
  batching: boolean;
  tokensPerRequest: number;
  tokensPerSec: number;
  serverSteps: number;
  msPerRound: number;
}

export async function throughput(spec: Spec, weights: Weights, counts: number[], rounds: number, log: (s: string) => void, open: PartFactory = async (s) => new LocalServerCompute(weights, s)): Promise<ThroughputRow[]> {
  const { cfg, batch: B, seqLen: T } = spec;
  const cut = defaultCut(cfg);
  const bs = batches(B, T, Math.max(...counts), 5).map((b) => ({ ...b, seqLen: b.seqLen }));
  const rows: ThroughputRow[] = [];
  for (const batching of [true, false]) {
    for (const n of counts) {
      const compute = await open({ config: cfg, cut, lora: subOpts(2).lora, seed: 2, lr: subOpts(2).optimizer.lr, schedule: { kind: 'constant' }, smoothing: SMOOTHING });
      const engine = new ServerEngine(compute, { batching, maxGroup: 16 });
      // Cut activations as a client would send them: [B, T, d], here random (the server cost does not depend on values).
      const reqs = bs.slice(0, n).map((b, c) => ({
        clientId: `c${c}`,
        acts: { shape: [b.batch, b.seqLen, cfg.nEmbd], data: Float32Array.from({ length: b.batch * b.seqLen * cfg.nEmbd }, (_, j) => Math.sin(j * 0.37 + c)) },
        targets: b.targets,
        mask: b.mask,
      }));
      const tokens = reqs.reduce((s, r) => s + r.acts.shape[0] * r.acts.shape[1], 0);
      try {
        await Promise.all(reqs.map((r) => engine.submit(r))); // warm-up (kernels, shapes)
        const steps0 = engine.stats.serverSteps;
        const t0 = performance.now();
        for (let k = 0; k < rounds; k++) await Promise.all(reqs.map((r) => engine.submit(r)));
        const ms = performance.now() - t0;
        rows.push({
          model: spec.name, clients: n, batching, tokensPerRequest: tokens / n, tokensPerSec: (tokens * rounds) / (ms / 1000),
          serverSteps: (engine.stats.serverSteps - steps0) / rounds, msPerRound: ms / rounds,
        });
        log(`  ${spec.name} ${batching ? 'batched' : 'one-at-a-time'} × ${n}: ${f(rows[rows.length - 1].tokensPerSec, 0)} tokens/s`);
      } finally {
        await compute.dispose();
      }
    }
  }
  return rows;
}

// ---- the whole benchmark ------------------------------------------------------------------

export async function runSplitBench(opts: SplitBenchOptions = {}): Promise<Record<string, unknown>> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const quick = opts.quick ?? false;
  const backend = await selectNodeBackend(opts.backend ?? 'auto', log);
  const tStart = performance.now();
  const gpt2: Spec = { name: 'gpt2', cfg: PRESETS.gpt2, batch: quick ? 1 : 2, seqLen: 32 };
  const nano: Spec = { name: 'nano', cfg: PRESETS.nano, batch: 4, seqLen: 32 };
  const iters = quick ? 2 : 4;

  log(`bench-split: backend ${backend}, ${quick ? 'quick' : 'full'} run; LoRA r=${DEFAULT_LORA.r} on ${DEFAULT_LORA.targets.join(',')}, cut = defaultCut (a quarter of the blocks, ≥1)`);
  let t = performance.now();
  const nanoRec = initGpt2Weights(nano.cfg, 0);
  const nanoW = toWeights(nanoRec);
  // For the wire study: a wider wte (as the server tests do) so that LoRA can move the tied
  // head's logits on a random base and the loss actually falls over 50 steps.
  const nanoWide = toWeights({ ...nanoRec, 'wte.weight': { ...nanoRec['wte.weight'], data: nanoRec['wte.weight'].data.map((x) => x * 25) } });
  const gpt2Rec = initGpt2Weights(gpt2.cfg, 0);
  const gpt2W = toWeights(gpt2Rec);
  log(`bench-split: weights ready in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const lb = await loopback();
  try {
    // (1) + (2)
    log('\n(1)+(2) split step by part (wire f32, the real socket.io + msgpack loopback in the middle), vs the same step unsplit');
    const steps: StepTiming[] = [];
    for (const spec of [nano, gpt2]) {
      t = performance.now();
      steps.push(await timeSplit(spec, spec === nano ? nanoW : gpt2W, lb, 'f32', 1, spec === nano ? iters + 2 : iters));
      log(`  ${spec.name}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    const stepTable = formatTable(
      ['model', 'layers×d', 'cut', 'B×T tokens', 'client fwd ms', 'client bwd ms', 'server ms', 'codec+transport ms', 'split ms', 'unsplit ms', 'split/unsplit', 'compute/unsplit'],
      steps.map((s) => [s.model, s.shape, s.cut, s.tokens, f(s.clientForwardMs, 1), f(s.clientBackwardMs, 1), f(s.serverMs, 1), f(s.transportMs, 2), f(s.splitMs, 1), f(s.unsplitMs, 1), f(s.ratio, 3), f(s.computeRatio, 3)]),
    );
    const share = formatTable(
      ['model', 'client compute', 'codec+transport', 'server compute'],
      steps.map((s) => [s.model, pct(s.clientMs / s.splitMs), pct(s.transportMs / s.splitMs), pct(s.serverMs / s.splitMs)]),
    );
    log(`\n${stepTable}\n(client bwd includes the recomputed forward; compute/unsplit = (client + server compute) / unsplit)\n\nshare of the split step's wall time:\n${share}`);

    // (1b)
    log('\n(1b) codec + transport alone per wire format: activations out, gradient back, no compute');
    const echoes: EchoTiming[] = [];
    for (const spec of [nano, gpt2]) {
      const shape: [number, number, number] = [spec.batch, spec.seqLen, spec.cfg.nEmbd];
      for (const wire of WIRE_FORMATS) echoes.push(await timeEcho(spec.name, shape, lb, wire, quick ? 10 : 30));
    }
    // A GPT-2 S training batch as the reference runs it (8×128) shows where the codec starts to matter.
    if (!quick) for (const wire of WIRE_FORMATS) echoes.push(await timeEcho('gpt2 8×128', [8, 128, 768], lb, wire, 10));
    log(formatTable(
      ['model', 'B×T×d', 'wire', 'round trip ms', 'of which codec ms', 'message bytes (both ways)'],
      echoes.map((e) => [e.model, e.shape, e.wire, f(e.roundTripMs, 2), f(e.codecMs, 2), e.messageBytes]),
    ));

    // (3)
    const wireSteps = 50;
    
    const pairs: [WireFormat, WireFormat][] = [['f32', 'f32'], ['f16', 'f16'], ['int8', 'int8']];
    if (!quick) pairs.push(['f16', 'f32'], ['int8', 'f32']);
    const wireSpec: Spec = { ...nano, batch: quick ? 2 : 4 };
    log(`\n(3) wire formats on ${nano.name} (wte ×25; ${wireSpec.batch}×≤${wireSpec.seqLen}), ${wireSteps} split steps each, same seeds and batches, lr ${WIRE_LR}`);
    const wires = await wireStudy(wireSpec, nanoWide, wireSteps, pairs, log);
    const gptD = gpt2.cfg.nEmbd;
    const wireTable = formatTable(
      ['acts/grad', `B/token d=${nano.cfg.nEmbd}`, `B/token d=${gptD}`, 'vs f32', 'acts rel err', 'grad rel err', 'final loss', 'Δ final', 'Δ last-10 mean', 'mean |Δ| curve', 'max |Δ| curve'],
      wires.map((w) => {
        const big = wireBytes([1, 1, gptD], w.acts) + wireBytes([1, 1, gptD], w.grad);
        return [`${w.acts}/${w.grad}`, w.bytesPerToken, big, pct(w.bytesPerToken / wires[0].bytesPerToken), w.actsRelErr.toExponential(1), w.gradRelErr.toExponential(1), f(w.finalLoss, 4), w.finalLossDiff.toExponential(2), w.last10Diff.toExponential(2), w.meanAbsCurveDiff.toExponential(2), w.maxAbsCurveDiff.toExponential(2)];
      }),
    );
    const rec = recommend(wires);
    log(`\n${wireTable}\n(bytes are the cut tensors only; the activations message adds 8 B/token for targets and mask)\n\nrecommended default wire format: ${rec.format}\n  ${rec.reason}`);

    // (4)
    const counts = [1, 2, 4, 8];
    const rounds = quick ? 3 : 5;
    const small: Spec = { ...nano, batch: quick ? 1 : 2, seqLen: 32 };
    log(`\n(4) ServerEngine throughput, ${rounds} rounds of N concurrent requests after a warm-up round`);
    // With --engine torch, part (4) runs on one torch child per model, through its pipes.
    let torch: TorchCompute | null = null;
    const onEngine = (rec: TensorRecord, cfg: GPT2Config): PartFactory | undefined => {
      const e = opts.engine;
      if (e?.engine !== 'torch') return undefined;
      let n = 0;
      return async (s) => {
        if (!torch || torch.opts.config !== cfg) {
          await torch?.close();
          torch = new TorchCompute({ python: e.python, device: e.device, threads: e.threads, config: cfg, weights: sharedRecord(rec) });
          await torch.start();
        }
        return WorkerServerCompute.open(torch, `thr-${n++}`, s);
      };
    };
    const thr = await throughput(small, nanoW, counts, rounds, log, onEngine(nanoRec, nano.cfg));
    // At GPT-2 S shape: 1, 4 and 8 clients of one 64-token row each (the server part: 9 blocks + the head).
    const gpt2Thr: Spec = { ...gpt2, name: 'gpt2', batch: 1, seqLen: 64 };
    thr.push(...(await throughput(gpt2Thr, gpt2W, [1, 4, 8], quick ? 1 : 2, log, onEngine(gpt2Rec, gpt2.cfg))));
    await (torch as TorchCompute | null)?.close();
    const thrTable = formatTable(
      ['model', 'tokens/request', 'clients', 'batched tokens/s', 'one-at-a-time tokens/s', 'batched speed-up', 'batched ms/round', 'one-at-a-time ms/round'],
      thr.filter((r) => r.batching).map((b) => {
        const o = thr.find((r) => !r.batching && r.model === b.model && r.clients === b.clients)!;
        return [b.model, b.tokensPerRequest, b.clients, f(b.tokensPerSec, 0), f(o.tokensPerSec, 0), `${f(b.tokensPerSec / o.tokensPerSec, 2)}×`, f(b.msPerRound, 0), f(o.msPerRound, 0)];
      }),
    );
    log(`\n${thrTable}`);
    const totalS = (performance.now() - tStart) / 1000;
    log(`\nbench-split: done in ${totalS.toFixed(0)} s; tfjs tensors alive: ${tf.memory().numTensors}`);
    return {
      backend, engine: opts.engine?.engine ?? 'tfjs', quick, totalSeconds: totalS,
      lora: DEFAULT_LORA, labelSmoothing: SMOOTHING,
      splitStep: steps,
      codecTransport: echoes,
      wire: { model: nano.name, wteScale: 25, lr: WIRE_LR, steps: wireSteps, batch: wireSpec.batch, seqLen: wireSpec.seqLen, runs: wires, recommended: rec.format, reason: rec.reason },
      throughput: thr,
    };
  } finally {
    await lb.close();
    for (const w of [nanoW, nanoWide, gpt2W]) for (const x of Object.values(w)) x.dispose();
  }
}

export const benchSplit: Experiment<SplitBenchOptions, Record<string, unknown>> = {
  name: 'bench-split',
  description: 'split step cost (client, codec+transport, server) vs unsplit, wire formats vs float32, and server throughput with 1-8 clients',
  defaults: {},
  run: (o, { log }) => runSplitBench({ ...o, log }),
  report: async (result) => ({ json: result, files: [] }),
};

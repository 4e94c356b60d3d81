// bench-server: the real server at real size. It starts buildApp on a model (e.g. a random
// `init-model --preset gpt2-medium`), creates a run at a cut, and sends N steps of activations from
// C raw socket clients (no tfjs on the client side, so the numbers are the server's). It reports
// worker start and run creation time, server ms per step, the compute worker's memory (tfjs bytes
// and the wasm heap, which stops at 4 GiB), and /api/health latency while the steps run.
import { randomBytes } from 'node:crypto';
import { loadGpt2Dir } from '@splitlora/model/node';
import { PROTOCOL_VERSION, encodeTensor, msgpackParser, type Message } from '@splitlora/protocol';
import { ComputePool, TorchCompute, buildApp, type ResolvedEngine, type WorkerMemory } from '@splitlora/server';
import { io as connect } from 'socket.io-client';
import type { Experiment } from './experiment';

export interface BenchServerOptions {
  /** A model directory (config.json + model.safetensors). */
  modelDir: string;
  engine: ResolvedEngine;
  /** The compute worker's tfjs backend (on the tfjs engine). */
  backend: string;
  /** Client blocks (default: the server's, a quarter of the blocks). */
  cut?: number;
  batch: number;
  seqLen: number;
  steps: number;
  clients: number;
  /** Held-out examples evaluated after the steps (0: none). */
  evaluate: number;
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
const mb = (b: number | null) => (b === null ? null : Math.round(b / 2 ** 20));

export const benchServer: Experiment<BenchServerOptions, Record<string, unknown>> = {
  name: 'bench-server',
  description: 'the server at real size through its compute worker: start-up, memory, ms per step and health latency under load',
  defaults: { batch: 1, seqLen: 64, steps: 3, clients: 1, evaluate: 0 },
  async run(o, { log }) {
    let t = performance.now();
    const { config, weights } = await loadGpt2Dir(o.modelDir);
    const loadS = (performance.now() - t) / 1000;
    const token = randomBytes(8).toString('hex');
    const { app, manager, evaluations } = await buildApp({ model: { id: 'bench', config, weights }, token, backend: o.backend, engine: o.engine, maxBatch: o.batch, maxSeqLen: o.seqLen, heartbeat: { pingInterval: 25_000, pingTimeout: 600_000 } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const health: number[] = [];
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const t0 = performance.now();
        await fetch(`${base}/api/health`);
        health.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      t = performance.now();
      await manager.compute.ready;
      const workerS = (performance.now() - t) / 1000;
      t = performance.now();
      const run = await manager.create({ batch: o.batch, seqLen: o.seqLen, cut: o.cut ?? 0, interval: o.steps, rounds: 1, minClients: o.clients, wire: 'f16' });
      const createS = (performance.now() - t) / 1000;
      const memOpen = await manager.compute.request<WorkerMemory>({ op: 'memory' });
      const torchInfo = manager.compute instanceof TorchCompute ? manager.compute.info : null;
      log(`bench-server: ${config.nLayer} layers × d=${config.nEmbd}, cut ${run.opts.cut}, backend ${manager.compute.health.backend}; worker ${workerS.toFixed(1)} s, run ${createS.toFixed(1)} s; worker holds ${mb(memOpen.numBytes)} MB in tensors (wasm heap ${mb(memOpen.wasmHeapBytes)} MB)`);
      const d = config.nEmbd, B = o.batch, T = o.seqLen;
      const stepMs: number[] = [];
      const clients = await Promise.all(Array.from({ length: o.clients }, async (_, c) => {
        const socket = connect(base, { parser: msgpackParser, transports: ['websocket'], reconnection: false });
        const welcome = await new Promise<Message<'welcome'>>((resolve, reject) => {
          socket.once('welcome', resolve);
          socket.once('error', (e: { message: string }) => reject(new Error(e.message)));
          socket.emit('hello', { v: PROTOCOL_VERSION, backend: 'bench', userAgent: 'bench-server', examples: 100, wireFormats: ['f16'] });
        });
        return { socket, welcome, c };
      }));
      await new Promise((r) => setTimeout(r, 300)); // the round opens once all have joined
      t = performance.now();
      await Promise.all(clients.map(async ({ socket, welcome, c }) => {
        const acts = encodeTensor({ shape: [B, T, d], data: Float32Array.from({ length: B * T * d }, (_, j) => Math.sin(j * 0.37 + c)) }, 'f16');
        for (let step = 0; step < o.steps; step++) {
          const t0 = performance.now();
          await new Promise<void>((resolve, reject) => {
            socket.once('gradient', () => resolve());
            socket.once('error', (e: { code: string; message: string }) => reject(new Error(`${e.code}: ${e.message}`)));
            socket.emit('activations', { v: PROTOCOL_VERSION, runId: welcome.runId, step, round: welcome.round, batch: B, seqLen: T, acts, targets: new Int32Array(B * T).fill(11), mask: new Float32Array(B * T).map((_, j) => (j % T >= T / 2 ? 1 : 0)) });
          });
          stepMs.push(performance.now() - t0);
          log(`  client ${c} step ${step + 1}/${o.steps}: ${(stepMs.at(-1)! / 1000).toFixed(1)} s`);
        }
      }));
      const wallS = (performance.now() - t) / 1000;
      const memSteps = await manager.compute.request<WorkerMemory>({ op: 'memory' });
      let evaluation: Record<string, unknown> | null = null;
      if (o.evaluate > 0) {
        // In its own worker, beside the training worker (which keeps its memory).
        t = performance.now();
        const ev = evaluations.start(run.id, { limit: o.evaluate });
        while (ev.status === 'queued' || ev.status === 'running') await new Promise((r) => setTimeout(r, 200));
        evaluation = { status: ev.status, seconds: (performance.now() - t) / 1000, ...(ev.result ?? {}), ...(ev.error ? { error: ev.error } : {}) };
        log(`  evaluation of ${o.evaluate} examples: ${ev.status} in ${(evaluation.seconds as number).toFixed(1)} s`);
      }
      for (const { socket } of clients) socket.close();
      probing = false;
      await probe;
      const result = {
        layers: config.nLayer, dModel: config.nEmbd, cut: run.opts.cut, backend: manager.compute.health.backend,
        engine: manager.compute.engine, device: torchInfo ? torchInfo.deviceName : 'tfjs', threads: torchInfo ? torchInfo.threads : manager.compute instanceof ComputePool ? manager.compute.workers.length : 1, batch: B, seqLen: T, clients: o.clients, steps: o.steps,
        loadSeconds: loadS, workerStartSeconds: workerS, runCreateSeconds: createS, wallSeconds: wallS,
        tokensPerSec: (o.clients * o.steps * B * T) / wallS, medianStepMs: quantile(stepMs, 0.5),
        workerTensorMB: mb(memSteps.numBytes), workerTensorMBAtOpen: mb(memOpen.numBytes), wasmHeapMB: mb(memSteps.wasmHeapBytes), rssMB: mb(memSteps.rssBytes ?? null), cudaPeakMB: mb(memSteps.cudaPeakBytes ?? null),
        healthMs: { n: health.length, p50: quantile(health, 0.5), p99: quantile(health, 0.99), max: Math.max(...health) },
        evaluation,
      };
      return result;
    } finally {
      probing = false;
      await app.close();
    }
  },
  async report(result) {
    return { json: result, files: [] };
  },
};

// The SplitLoRA side shared by in-process and browser simulations: the real server (buildApp,
// Fastify + socket.io + msgpack) on a loopback port, one run with the simulation's settings, and
// adapter snapshots at each aggregation for the held-out curve.
import { randomBytes } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import type { TensorRecord } from '@splitlora/model';
import { initLora } from '@splitlora/model';
import { buildApp, type Run, type RunMetric , type ResolvedEngine } from '@splitlora/server';
import type { Checkpoint, SimModel, TrainSettings } from './types';

/** Run settings (apps/server/src/settings.ts) for these training settings. */
export function splitRunSettings(s: TrainSettings): Record<string, unknown> {
  return {
    name: 'simulation',
    cut: s.cut,
    lora: { r: s.lora.r, alpha: s.lora.alpha, dropout: s.lora.dropout, targets: [...s.lora.targets] },
    clientLr: s.lr,
    serverLr: s.lr,
    // Constant, like the clients' and CenLoRA's/FedLoRA's optimisers, so the methods differ only in where they train.
    serverSchedule: 'constant',
    serverWarmup: 0,
    batch: s.batch,
    seqLen: s.seqLen,
    interval: s.interval,
    rounds: s.steps / s.interval,
    minClients: s.clients,
    // Simulated clients never straggle on purpose; a slow browser tab must not be dropped.
    stepDeadlineMs: 30 * 60_000,
    wire: s.wire,
    batching: true,
    labelSmoothing: s.labelSmoothing,
    seed: s.seed,
    ...(s.labels === 'client' ? { labels: 'client' } : {}),
    ...(s.actClip !== undefined ? { actClip: s.actClip } : {}),
    ...(s.actNoise ? { actNoise: s.actNoise } : {}),
  };
}

export interface SplitServer {
  base: string;
  run: Run;
  checkpoints: Checkpoint[];
  /** Resolves when the run finishes; rejects when it stops or stalls for `stallMs`. */
  finished(stallMs: number, describeStall: () => string): Promise<void>;
  /** Milliseconds since training started (0 before). */
  elapsedMs(): number;
  close(): Promise<void>;
}

export async function startSplitServer(model: SimModel, s: TrainSettings, opts: { webDir?: string; backend?: string; engine?: ResolvedEngine } = {}): Promise<SplitServer> {
  if (s.steps % s.interval !== 0) throw new Error(`--steps ${s.steps} must be a multiple of --interval ${s.interval}`);
  const { app, manager } = await buildApp({ model, token: randomBytes(12).toString('hex'), webDir: opts.webDir, maxBatch: s.batch, maxSeqLen: s.seqLen, backend: opts.backend ?? tf.getBackend(), engine: opts.engine });
  await app.listen({ port: 0, host: '127.0.0.1' }); // loopback is a secure context: browser tabs get navigator.gpu
  const addr = app.server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const run = await manager.create(splitRunSettings(s));
  const rounds = s.steps / s.interval;
  const { config } = model;
  let t0 = 0;
  let lastProgress = Date.now();
  const checkpoints: Checkpoint[] = [{ globalStep: 0, round: 0, wallMs: 0, adapter: initLora(config, s.lora, 0, config.nLayer, s.seed) }];
  run.on('metric', (m: RunMetric) => {
    lastProgress = Date.now();
    if (m.kind === 'state' && m.state === 'training' && t0 === 0) t0 = performance.now();
  });
  // The server adapter comes from the compute worker; asked for here, it is taken before any step
  // of the next round (the engine runs snapshots ahead of queued steps).
  const snapshots: Promise<void>[] = [];
  run.on('aggregated', (e: { round: number; average: TensorRecord }) => {
    const done = e.round + 1;
    if (done % s.evalEvery === 0 || done === rounds) {
      const at = { globalStep: run.globalStep, round: done, wallMs: performance.now() - t0 };
      snapshots.push(run.opts.engine.snapshot().then((snap) => { checkpoints.push({ ...at, adapter: { ...e.average, ...snap.adapter } }); }));
    }
  });
  return {
    base,
    run,
    checkpoints,
    elapsedMs: () => (t0 ? performance.now() - t0 : 0),
    finished: (stallMs, describeStall) =>
      new Promise<void>((resolve, reject) => {
        const timer = setInterval(() => {
          if (run.state === 'finished') done(null);
          else if (run.state === 'stopped') done(new Error('the run was stopped before it finished'));
          else if (Date.now() - lastProgress > stallMs) done(new Error(`no progress for ${Math.round(stallMs / 1000)} s (run ${run.state}, round ${run.round}/${rounds}): ${describeStall()}`));
        }, 50);
        const done = (e: Error | null) => {
          clearInterval(timer);
          if (e) reject(e);
          else Promise.all(snapshots).then(() => { checkpoints.sort((a, b) => a.round - b.round); resolve(); }, reject);
        };
      }),
    close: async () => {
      run.stop();
      await app.close();
    },
  };
}

// SplitLoRA in one process: the real server on loopback and N volunteers running the real client
// loop (packages/client) over socket.io-client with the msgpack parser. The same protocol as
// browser tabs, without browsers.
import type { ResolvedEngine } from '@splitlora/server';
import * as tf from '@tensorflow/tfjs';
import { Volunteer, downloadClientModel, noiseKeyFromSeed } from '@splitlora/client';
import { mixSeed } from '@splitlora/data';
import { toWeights } from '@splitlora/model';
import { msgpackParser } from '@splitlora/protocol';
import { io as connect } from 'socket.io-client';
import { clientSeed, SeqLenStats } from './batches';
import { startSplitServer } from './split-server';
import type { MethodRun, RunHooks, SimData, SimModel, TrainSettings } from './types';
import { meterSocket } from './wire-meter';

/** Salt of the simulated volunteers' activation-noise seeds (distinct from their data-order seeds). */
const NOISE_SEED_SALT = 0x6e6f6973;

export interface InProcessOptions {
  /** Fail when no step happens for this long (default 5 minutes). */
  stallMs?: number;
  /** The server's compute engine (default tfjs). */
  engine?: ResolvedEngine;
}

export async function runSplitInProcess(model: SimModel, s: TrainSettings, data: SimData, hooks: RunHooks = {}, opts: InProcessOptions = {}): Promise<MethodRun> {
  const server = await startSplitServer(model, s, { engine: opts.engine });
  const backend = tf.getBackend();
  const losses: number[][] = data.shards.map(() => []);
  const errors: string[] = [];
  const seqLens = new SeqLenStats();
  const total = s.clients * s.steps;
  let done = 0;
  const volunteers: Volunteer[] = [];
  const meters = data.shards.map((examples, c) => {
    const socket = connect(server.base, { parser: msgpackParser, transports: ['websocket'], reconnection: false });
    const meter = meterSocket(socket);
    const v = new Volunteer({
      socket, examples, backend, userAgent: `splitlora-simulate/${c}`, seed: clientSeed(s.seed, c),
      noiseKey: noiseKeyFromSeed(mixSeed(clientSeed(s.seed, c), NOISE_SEED_SALT)), // reproducible simulations; a page draws a secret one
      loadModel: async () => {
        // F32, the same base as the other methods: loopback bytes cost nothing, and equal bases keep them comparable.
        const m = await downloadClientModel(server.base, { dtype: 'F32' });
        return { config: m.config, weights: toWeights(m.weights) }; // the volunteer frees them on stop
      },
      onEvent: (e) => {
        if (e.type === 'step') {
          losses[c].push(e.loss);
          seqLens.add(e.tokens / s.batch);
          hooks.onStep?.(++done, total, e.loss);
        } else if (e.type === 'error') errors.push(`client ${c}: ${e.code}: ${e.message}`);
        else if (e.type === 'log' && e.message.startsWith('error')) errors.push(`client ${c}: ${e.message}`);
      },
    });
    volunteers.push(v);
    v.start();
    return meter;
  });
  try {
    await server.finished(opts.stallMs ?? 300_000, () => errors.slice(-3).join('; ') || 'no client reported an error');
    // The last aggregate and run-state are still on their way to the clients: count them too.
    const t = Date.now();
    while (volunteers.some((v) => v.stats.status !== 'finished') && Date.now() - t < 10_000) await new Promise((r) => setTimeout(r, 10));
    return {
      method: 'split', mode: 'in-process', clients: s.clients, stepsPerClient: s.steps, aggregations: server.run.round,
      losses, checkpoints: server.checkpoints,
      bytesUp: meters.map((m) => m.up), bytesDown: meters.map((m) => m.down),
      backends: data.shards.map(() => backend), wallSeconds: server.elapsedMs() / 1000,
      meanSeqLen: seqLens.mean, maxSeqLen: seqLens.max,
    };
  } finally {
    for (const v of volunteers) v.stop();
    await server.close();
  }
}

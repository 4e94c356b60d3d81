// buildApp builds the server and never listens (tests inject; main listens). Plugins: the API
// (runs and health), the client-model files, the built web app, and socket.io for volunteers.
import { existsSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { Server } from 'socket.io';
import {
  ServerModel, SPLITLORA_ADAMW, defaultCut, linearSchedule, serverTensorNames, toWeights,
  type GPT2Config, type TensorRecord, type Weights,
} from '@splitlora/model';
import { activationBytes, maxMessageBytes } from '@splitlora/protocol';
import { ServerEngine } from './engine';
import { buildClientFiles, type ClientModelFiles } from './model-files';
import { Run } from './run';
import { parseSettings, type RunSettings } from './settings';
import { admitLobby, attachSockets } from './socket';

export interface LoadedModel {
  id: string;
  config: GPT2Config;
  weights: TensorRecord;
}

export interface AppOptions {
  model: LoadedModel;
  /** Operator token: needed for every request that changes a run. */
  token: string;
  /** Built web app (vite build output). */
  webDir?: string;
  logger?: boolean | object;
  backend?: string;
  /** Largest batch × sequence a run may configure; sizes socket.io's message limit. */
  maxBatch?: number;
  maxSeqLen?: number;
}

/** Runs, model parts and client files; one run is current at a time. */
export class RunManager {
  readonly runs = new Map<string, Run>();
  current: Run | null = null;
  io: Server | null = null;
  private serverWeights = new Map<number, Weights>();
  private clientFiles = new Map<number, ClientModelFiles>();

  constructor(readonly model: LoadedModel, readonly limits: { maxBatch: number; maxSeqLen: number }, private log: FastifyInstance['log']) {}

  cutOf(s: RunSettings): number {
    const cut = s.cut || defaultCut(this.model.config);
    if (cut < 1 || cut >= this.model.config.nLayer) throw new Error(`run settings/cut: ${cut} must be between 1 and ${this.model.config.nLayer - 1}`);
    return cut;
  }

  files(cut: number): ClientModelFiles {
    let f = this.clientFiles.get(cut);
    if (!f) this.clientFiles.set(cut, (f = buildClientFiles(this.model.config, this.model.weights, cut)));
    return f;
  }

  filesByHash(hash: string): ClientModelFiles | undefined {
    return [...this.clientFiles.values()].find((f) => f.hash === hash);
  }

  create(input: unknown): Run {
    if (this.current?.active) throw Object.assign(new Error(`run ${this.current.id} is still ${this.current.state}; stop it first`), { statusCode: 409 });
    const settings = parseSettings(input);
    const cut = this.cutOf(settings);
    const { config } = this.model;
    if (settings.batch > this.limits.maxBatch || settings.seqLen > Math.min(this.limits.maxSeqLen, config.nPositions)) {
      throw new Error(`run settings: batch ${settings.batch} × seqLen ${settings.seqLen} exceeds this server's limit ${this.limits.maxBatch} × ${Math.min(this.limits.maxSeqLen, config.nPositions)} (raise --max-batch/--max-seq-len)`);
    }
    let weights = this.serverWeights.get(cut);
    if (!weights) {
      weights = toWeights(Object.fromEntries(serverTensorNames(config, cut).map((n) => [n, this.model.weights[n]])));
      this.serverWeights.set(cut, weights);
    }
    this.files(cut);
    const totalServerSteps = settings.rounds * settings.interval * Math.max(1, settings.minClients);
    const lora = { r: settings.lora.r, alpha: settings.lora.alpha, dropout: settings.lora.dropout, targets: settings.lora.targets as never };
    const serverModel = new ServerModel(config, weights, cut, {
      lora,
      seed: settings.seed,
      optimizer: { lr: settings.serverLr, ...SPLITLORA_ADAMW, schedule: settings.serverSchedule === 'constant' ? undefined : linearSchedule(Math.min(settings.serverWarmup, Math.floor(totalServerSteps / 10)), totalServerSteps) },
    });
    const engine = new ServerEngine(serverModel, { batching: settings.batching, maxGroup: 16, smoothing: settings.labelSmoothing, seed: settings.seed });
    const run = new Run({ settings, modelId: this.model.id, config, cut, engine });
    run.on('metric', (m) => {
      if (m.kind !== 'step') this.log.info({ run: run.id, ...m }, `run ${m.kind}`);
    });
    run.on('close', () => serverModel.dispose());
    this.runs.set(run.id, run);
    this.current = run;
    run.start();
    if (this.io) admitLobby(this.io);
    this.log.info({ run: run.id, cut, settings }, 'run created');
    return run;
  }

  summary(run: Run) {
    const steps = [...run.clients.values()];
    const losses = steps.map((c) => c.lastLoss).filter((x): x is number => x !== null);
    return {
      id: run.id, name: run.settings.name, status: run.state, round: run.round, rounds: run.settings.rounds, step: run.globalStep,
      clients: run.connected().length, lastLoss: losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : null,
      settings: run.settings, cut: this.cutOf(run.settings), modelId: this.model.id,
    };
  }
}

function checkToken(expected: string) {
  const want = Buffer.from(expected);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const got = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer\s+/i, ''));
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      return reply.code(401).send({ error: 'E_AUTH', message: 'this needs the operator token: send "Authorization: Bearer <token>" (printed when the server started)' });
    }
  };
}

export async function buildApp(opts: AppOptions): Promise<{ app: FastifyInstance; manager: RunManager }> {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 1024 * 1024 });
  const limits = { maxBatch: opts.maxBatch ?? 16, maxSeqLen: opts.maxSeqLen ?? 256 };
  const manager = new RunManager(opts.model, limits, app.log);
  const auth = checkToken(opts.token);
  const { config } = opts.model;

  // socket.io shares the HTTP server; it is attached once Fastify has created it.
  app.addHook('onReady', async () => {
    const adapterParams = 4 * config.nLayer * 4 * config.nEmbd * 256; // generous: r ≤ 256, 4 targets
    manager.io = attachSockets(app.server, { currentRun: () => manager.current, log: app.log }, { dModel: config.nEmbd, maxBatch: limits.maxBatch, maxSeqLen: Math.min(limits.maxSeqLen, config.nPositions), adapterParams: Math.min(adapterParams, 64 * 1024 * 1024) });
  });
  app.addHook('onClose', async () => {
    for (const r of manager.runs.values()) r.close();
    await manager.io?.close();
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, _req, reply) => {
    const status = err.statusCode ?? (err.validation ? 400 : 400);
    reply.code(status).send({ error: status === 409 ? 'E_CONFLICT' : 'E_BAD_REQUEST', message: err.message });
  });

  app.get('/api/health', async () => ({ ok: true, model: opts.model.id, backend: opts.backend ?? null, run: manager.current?.id ?? null }));

  app.get('/api/runs', async () => ({ runs: [...manager.runs.values()].map((r) => manager.summary(r)) }));

  app.get<{ Params: { id: string } }>('/api/runs/:id', async (req, reply) => {
    const run = manager.runs.get(req.params.id);
    if (!run) return reply.code(404).send({ error: 'E_NOT_FOUND', message: `no run "${req.params.id}"` });
    return {
      ...manager.summary(run),
      clientList: [...run.clients.values()].map((c) => ({
        id: c.id, connected: c.connected, backend: c.backend, userAgent: c.userAgent, examples: c.examples, steps: c.steps,
        tokens: c.tokens, bytesUp: c.bytesUp, bytesDown: c.bytesDown, lastLoss: c.lastLoss, lastSeen: c.lastSeen,
      })),
    };
  });

  app.post('/api/runs', { preHandler: auth }, async (req, reply) => {
    const run = manager.create(req.body ?? {});
    return reply.code(201).send(manager.summary(run));
  });

  for (const action of ['pause', 'resume', 'stop'] as const) {
    app.post<{ Params: { id: string } }>(`/api/runs/:id/${action}`, { preHandler: auth }, async (req, reply) => {
      const run = manager.runs.get(req.params.id);
      if (!run) return reply.code(404).send({ error: 'E_NOT_FOUND', message: `no run "${req.params.id}"` });
      run[action]();
      return manager.summary(run);
    });
  }

  // The client submodel: /api/model says where the current run's files are; the files themselves
  // are immutable under their hash.
  app.get('/api/model', async (_req, reply) => {
    const run = manager.current;
    if (!run) return reply.code(404).send({ error: 'E_NOT_FOUND', message: 'no run yet; the operator has not started one' });
    const f = manager.files(manager.cutOf(run.settings));
    return { modelId: opts.model.id, hash: f.hash, config: `/model/${f.hash}/config.json`, weights: `/model/${f.hash}/client.safetensors`, bytes: f.safetensors.byteLength };
  });
  app.get<{ Params: { hash: string; file: string } }>('/model/:hash/:file', async (req, reply) => {
    const f = manager.filesByHash(req.params.hash);
    if (!f) return reply.code(404).send({ error: 'E_NOT_FOUND', message: 'unknown model files; fetch /api/model for the current ones' });
    reply.header('cache-control', 'public, max-age=31536000, immutable');
    if (req.params.file === 'config.json') return f.config;
    if (req.params.file === 'client.safetensors') return reply.type('application/octet-stream').send(Buffer.from(f.safetensors.buffer, f.safetensors.byteOffset, f.safetensors.byteLength));
    return reply.code(404).send({ error: 'E_NOT_FOUND', message: `no file "${req.params.file}"` });
  });

  if (opts.webDir && existsSync(opts.webDir)) {
    await app.register(fastifyStatic, { root: opts.webDir, index: ['index.html'] });
  } else {
    app.get('/', async (_req, reply) => reply.type('text/plain').send('The web app is not built: run "npm run build:web", then restart the server.'));
  }
  void activationBytes;
  void maxMessageBytes;
  return { app, manager };
}

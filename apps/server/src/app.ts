// buildApp builds the server and never listens (tests inject; main listens). Plugins: the
// operator API (api.ts), the run store and checkpoints (store.ts, checkpoint.ts), the client-model
// files, the built web app, and socket.io for volunteers.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { prepareWebgpuForWorkers } from '@splitlora/backend/node';
import { sharedRecord } from './compute/compute-worker';
import { resolveEngine, trainCompute, type EngineChoice, type ResolvedEngine } from './compute/engines';
import { Evaluations } from './evaluations';
import { registerApi } from './api';
import { DataRoot } from './data-root';
import { RunManager, type LoadedModel } from './run-manager';
import { attachSockets } from './socket';
import { sendClientFile } from './model-files';
import { configToHf } from '@splitlora/model';
import { Store } from './store';
import { ClusterCoordinator } from './cluster/coordinator';

export { RunManager, type LoadedModel } from './run-manager';

export interface AppOptions {
  model: LoadedModel;
  /** Operator token: needed for every request that changes a run. */
  token: string;
  /** Built web app (vite build output). */
  webDir?: string;
  /**
   * Where runs are kept: <dataDir>/splitlora.db (SQLite) and <dataDir>/runs/<id>/checkpoint-*.
   * Without it the history lives in memory and no checkpoints are written.
   */
  dataDir?: string;
  /**
   * The only directory evaluation data files are read from (paths resolve inside it; symlinks are
   * refused). Default: dataDir; with neither, the server reads no data files.
   */
  dataRoot?: string;
  logger?: boolean | object;
  /** The tfjs backend of the compute workers (selectNodeBackend's names; default "auto"). */
  backend?: string;
  /** The training engine (default tfjs); resolve it first (resolveEngine) to log the choice once. */
  engine?: EngineChoice | ResolvedEngine;
  /** Let the compute workers take fault requests (crash-handling tests only). */
  computeFaults?: boolean;
  /** socket.io heartbeat (default 25 s interval, 60 s timeout). */
  heartbeat?: { pingInterval: number; pingTimeout: number };
  /** Largest batch × sequence a run may configure; sizes socket.io's message limit. */
  maxBatch?: number;
  maxSeqLen?: number;
  /**
   * redis://HOST:PORT: this server is a cluster coordinator (cluster/coordinator.ts); volunteers
   * may also connect to `splitlora node` processes on the same Redis. Absent: a single server.
   */
  redis?: string;
}

export const DB_FILE = 'splitlora.db';

export async function buildApp(opts: AppOptions): Promise<{ app: FastifyInstance; manager: RunManager; evaluations: Evaluations; cluster: ClusterCoordinator | null }> {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: 1024 * 1024,
    // Unknown fields are errors, not silently dropped; query strings still coerce to numbers.
    ajv: { customOptions: { removeAdditional: false } },
  });
  const limits = { maxBatch: opts.maxBatch ?? 16, maxSeqLen: opts.maxSeqLen ?? 256 };
  const dataDir = opts.dataDir ? resolve(opts.dataDir) : null;
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const store = new Store(dataDir ? join(dataDir, DB_FILE) : ':memory:');
  // One copy of the base weights, shared by the main thread (client files) and every compute worker.
  const model = { ...opts.model, weights: sharedRecord(opts.model.weights) };
  const backend = opts.backend ?? 'auto';
  // A worker cannot point the Vulkan loader at SwiftShader itself (its process.env is a copy).
  if (backend === 'webgpu') await prepareWebgpuForWorkers((m) => app.log.info(m));
  const engine = opts.engine === undefined ? { engine: 'tfjs' as const, why: 'default' } : 'why' in opts.engine ? opts.engine : await resolveEngine(opts.engine);
  const compute = trainCompute(engine, { backend, config: model.config, weights: model.weights, allowFaults: opts.computeFaults, onStderr: (line) => app.log.warn({ engine: 'torch' }, line) });
  const manager = new RunManager(model, limits, app.log, store, dataDir, compute);
  const cluster = opts.redis ? new ClusterCoordinator(manager, opts.redis, app.log) : null;
  const { config } = model;
  if (dataDir) await manager.resumeInterrupted();

  // socket.io shares the HTTP server; it is attached once Fastify has created it.
  app.addHook('onReady', async () => {
    const adapterParams = 4 * config.nLayer * 4 * config.nEmbd * 256; // generous: r ≤ 256, 4 targets
    manager.io = attachSockets(app.server, { currentRun: () => manager.current, log: app.log, heartbeat: opts.heartbeat }, { dModel: config.nEmbd, maxBatch: limits.maxBatch, maxSeqLen: Math.min(limits.maxSeqLen, config.nPositions), adapterParams: Math.min(adapterParams, 64 * 1024 * 1024) });
    if (cluster) await cluster.start(manager.io);
  });
  // preClose, not onClose: Fastify waits for open connections before onClose, and a volunteer's
  // WebSocket stays open until socket.io closes it.
  app.addHook('preClose', async () => {
    // Runs stop their clocks first, so departing sockets cannot close rounds; a live run keeps
    // its status in the store and resumes when the server starts again on this data directory.
    for (const r of manager.runs.values()) r.close();
    await manager.io?.close();
    await cluster?.close();
  });
  app.addHook('onClose', async () => {
    await manager.close();
  });

  const rootDir = opts.dataRoot ?? dataDir;
  if (opts.dataRoot && !existsSync(opts.dataRoot)) throw new Error(`--data-root ${opts.dataRoot} does not exist; create it or point it at the directory that holds the evaluation data`);
  const evaluations = new Evaluations(manager, app.log, { backend, allowFaults: opts.computeFaults, engine }, rootDir ? new DataRoot(rootDir) : null);
  registerApi(app, manager, { token: opts.token, backend, evaluations });

  // Where volunteer pages may train: the cluster's live nodes that have a public URL (none on a
  // single server: the page then uses this origin).
  app.get('/api/nodes', async () => {
    const nodes = cluster ? await cluster.liveNodes() : [];
    return { nodes: nodes.filter((n) => n.url !== null) };
  });

  // The client submodel: /api/model says where the current run's files are; the files themselves
  // are immutable under their hash.
  app.get('/api/model', async () => {
    const run = manager.current;
    // The architecture comes even before a run (the files need a run's cut), so a page can choose
    // its backend before it says hello.
    const architecture = configToHf(config);
    if (!run) return { modelId: model.id, architecture, files: null, message: 'no run yet; the operator has not started one' };
    const f = await manager.clientFiles.get(run.opts.cut, run.settings.labels === 'client');
    const weights = `/model/${f.hash}/client.safetensors`;
    return { modelId: model.id, architecture, hash: f.hash, config: `/model/${f.hash}/config.json`, weights, bytes: f.safetensors.byteLength, dtype: 'F16', sha256: f.sha256, weightsF32: `${weights}?dtype=F32` };
  });
  app.get<{ Params: { hash: string; file: string } }>('/model/:hash/:file', async (req, reply) => {
    const f = manager.clientFiles.byHash(req.params.hash);
    if (!f) return reply.code(404).send({ error: 'E_NOT_FOUND', message: 'unknown model files; fetch /api/model for the current ones' });
    reply.header('cache-control', 'public, max-age=31536000, immutable');
    if (req.params.file === 'config.json') return f.config;
    if (req.params.file === 'client.safetensors') return sendClientFile(req, reply, f);
    return reply.code(404).send({ error: 'E_NOT_FOUND', message: `no file "${req.params.file}"` });
  });

  if (opts.webDir && existsSync(opts.webDir)) {
    await app.register(fastifyStatic, { root: opts.webDir, index: ['index.html'] });
    // Pretty URL for the dashboard. The browser keeps the #token=… fragment across a 302.
    for (const url of ['/dashboard', '/dashboard/']) {
      app.get(url, async (req, reply) => {
        const q = req.url.indexOf('?');
        return reply.redirect(`/dashboard.html${q < 0 ? '' : req.url.slice(q)}`, 302);
      });
    }
  } else {
    app.get('/', async (_req, reply) => reply.type('text/plain').send('The web app is not built: run "npm run build:web", then restart the server.'));
  }
  return { app, manager, evaluations, cluster };
}

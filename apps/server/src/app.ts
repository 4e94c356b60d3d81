// buildApp builds the server and never listens (tests inject; main listens). It makes the store,
// the training compute and the runs registry, decorates the app with them (`runs`,
// `evaluations`), and registers one plugin per concern: the volunteer sockets with the cluster
// coordinator (volunteer-sockets.ts), the operator API (api.ts), the client-model files
// (model-routes.ts) and the built web app.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { prepareWebgpuForWorkers } from '@splitlora/backend/node';
import { sharedRecord } from './compute/compute-worker';
import { resolveEngine, trainCompute, type EngineChoice, type ResolvedEngine } from './compute/engines';
import { Evaluations } from './evaluations';
import { apiPlugin } from './api';
import { DataRoot } from './data-root';
import { modelRoutes } from './model-routes';
import { RunManager, type LoadedModel } from './run-manager';
import { Store } from './store';
import { volunteerSocketsPlugin } from './volunteer-sockets';
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

declare module 'fastify' {
  interface FastifyInstance {
    /** The runs registry (run-manager.ts). */
    runs: RunManager;
    evaluations: Evaluations;
  }
}

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
  const cluster = opts.redis ? new ClusterCoordinator(opts.redis, app.log) : null;
  const manager = new RunManager(model, limits, app.log, store, dataDir, compute, cluster);
  if (dataDir) await manager.resumeInterrupted();
  app.addHook('onClose', async () => {
    await manager.close();
  });

  const rootDir = opts.dataRoot ?? dataDir;
  if (opts.dataRoot && !existsSync(opts.dataRoot)) throw new Error(`--data-root ${opts.dataRoot} does not exist; create it or point it at the directory that holds the evaluation data`);
  const evaluations = new Evaluations(manager, app.log, { backend, allowFaults: opts.computeFaults, engine }, rootDir ? new DataRoot(rootDir) : null);

  app.decorate('runs', manager);
  app.decorate('evaluations', evaluations);
  await app.register(volunteerSocketsPlugin, { limits, heartbeat: opts.heartbeat, cluster });
  await app.register(apiPlugin, { token: opts.token, backend });
  await app.register(modelRoutes);
  // Where volunteer pages may train: the cluster's live nodes that have a public URL (none on a
  // single server: the page then uses this origin).
  app.get('/api/nodes', async () => {
    const nodes = cluster ? await cluster.liveNodes() : [];
    return { nodes: nodes.filter((n) => n.url !== null) };
  });
  await app.register(webApp, { webDir: opts.webDir });
  return { app, manager, evaluations, cluster };
}

/** The built volunteer page and dashboard, or a plain hint to build them. */
async function webApp(app: FastifyInstance, opts: { webDir?: string }): Promise<void> {
  if (!opts.webDir || !existsSync(opts.webDir)) {
    app.get('/', async (_req, reply) => reply.type('text/plain').send('The web app is not built: run "npm run build:web", then restart the server.'));
    return;
  }
  await app.register(fastifyStatic, { root: opts.webDir, index: ['index.html'] });
  // Pretty URL for the dashboard. The browser keeps the #token=… fragment across a 302.
  for (const url of ['/dashboard', '/dashboard/']) {
    app.get(url, async (req, reply) => {
      const q = req.url.indexOf('?');
      return reply.redirect(`/dashboard.html${q < 0 ? '' : req.url.slice(q)}`, 302);
    });
  }
}

// Starts the server for real: resumes an interrupted run from the data directory, listens, prints
// the volunteer and dashboard URLs with the operator token, and optionally creates a first run.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { buildApp, type LoadedModel } from './app';
import type { ResolvedEngine } from './compute/engines';

export interface ServeOptions {
  model: LoadedModel;
  port: number;
  host: string;
  token?: string;
  backend: string;
  /** The training engine, resolved by the caller (which logs the choice). */
  engine?: ResolvedEngine;
  webDir?: string;
  dataDir?: string;
  /** The directory evaluation data files are read from (default: dataDir). */
  dataRoot?: string;
  /** Run settings to start right away (volunteers can join at once). */
  autoRun?: Record<string, unknown> | null;
  maxBatch?: number;
  maxSeqLen?: number;
  /** redis://HOST:PORT: coordinate `splitlora node` processes through this Redis (see cluster/). */
  redis?: string;
}

export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../../dist/web', import.meta.url));

export async function serve(opts: ServeOptions) {
  const token = opts.token ?? randomBytes(12).toString('base64url');
  const { app, manager, evaluations } = await buildApp({
    model: opts.model, token, backend: opts.backend, engine: opts.engine, webDir: opts.webDir ?? DEFAULT_WEB_DIR, dataDir: opts.dataDir, dataRoot: opts.dataRoot,
    logger: { level: process.env.LOG_LEVEL ?? 'info' }, maxBatch: opts.maxBatch, maxSeqLen: opts.maxSeqLen, redis: opts.redis,
  });
  // Start the training worker now, so its backend is known (and a broken one fails here, loudly).
  await manager.compute.ready;
  await app.listen({ port: opts.port, host: opts.host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const shown = opts.host === '0.0.0.0' || opts.host === '::' ? 'localhost' : opts.host;
  const base = `http://${shown}:${port}`;
  // A run resumed from the data directory takes precedence over the first run of --run/auto-run.
  const resumed = manager.current?.active ? manager.current : null;
  if (opts.autoRun && !resumed) {
    if (typeof opts.autoRun.evalData === 'string') evaluations.dataPath(opts.autoRun.evalData);
    await manager.create(opts.autoRun);
  }
  const lines = [
    '',
    `  splitlora server: model ${opts.model.id} (${opts.model.config.nLayer} layers, d=${opts.model.config.nEmbd}), engine ${manager.compute.engine}, backend ${manager.compute.health.backend}`,
    `  Volunteers open:   ${base}/`,
    `  Operator dashboard: ${base}/dashboard.html#token=${token}`,
    `  Operator API:      ${base}/api/runs   (changes need "Authorization: Bearer ${token}")`,
    `  Operator token:    ${token}`,
    ...(opts.dataDir ? [`  Data directory:    ${opts.dataDir}`] : []),
    ...(opts.dataRoot ? [`  Data root:         ${opts.dataRoot} (evaluation files)`] : []),
    ...(opts.redis ? [`  Cluster:           coordinator on ${opts.redis}; start nodes with "splitlora node --redis ${opts.redis} --port P"`] : []),
    ...(resumed ? [`  Resumed run:       ${resumed.id} at round ${resumed.round}, global step ${resumed.globalStep}`] : []),
    '',
  ];
  process.stderr.write(lines.join('\n') + '\n');
  return { app, manager, base, token };
}

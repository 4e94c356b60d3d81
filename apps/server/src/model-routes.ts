// The client submodel over HTTP: /api/model says where the current run's files are (and the
// architecture even before a run, so a page can choose its backend before it says hello); the
// files themselves are immutable under their hash.
import type { FastifyInstance } from 'fastify';
import { configToHf } from '@splitlora/model';
import { sendClientFile } from './model-files';

export async function modelRoutes(app: FastifyInstance): Promise<void> {
  const manager = app.runs;
  const { config } = manager.model;
  app.get('/api/model', async () => {
    const run = manager.current;
    const architecture = configToHf(config);
    if (!run) return { modelId: manager.model.id, architecture, files: null, message: 'no run yet; the operator has not started one' };
    const f = await manager.clientFiles.get(run.opts.cut, run.settings.labels === 'client');
    const weights = `/model/${f.hash}/client.safetensors`;
    return { modelId: manager.model.id, architecture, hash: f.hash, config: `/model/${f.hash}/config.json`, weights, bytes: f.safetensors.byteLength, dtype: 'F16', sha256: f.sha256, weightsF32: `${weights}?dtype=F32` };
  });
  app.get<{ Params: { hash: string; file: string } }>('/model/:hash/:file', async (req, reply) => {
    const f = manager.clientFiles.byHash(req.params.hash);
    if (!f) return reply.code(404).send({ error: 'E_NOT_FOUND', message: 'unknown model files; fetch /api/model for the current ones' });
    reply.header('cache-control', 'public, max-age=31536000, immutable');
    if (req.params.file === 'config.json') return f.config;
    if (req.params.file === 'client.safetensors') return sendClientFile(req, reply, f);
    return reply.code(404).send({ error: 'E_NOT_FOUND', message: `no file "${req.params.file}"` });
  });
}

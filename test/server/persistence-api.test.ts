// The operator API over a data directory: the token guards every change, the metrics log comes
// back as JSON and CSV, the round timeline names its checkpoints, the adapter archive loads back
// with adapterFromPeft, and all of it survives a restart as history.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectNodeBackend } from '@splitlora/backend/node';
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import { adapterFromPeft, type TensorRecord } from '@splitlora/model';
import { buildApp, decodeCheckpoint, readTar } from '@splitlora/server';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY, tinyWeights } from '../kit/tiny';
import { TOKEN, startVolunteer, waitFor } from '../support/server-harness';

const weights = tinyWeights();
const examples = encodeExamples(syntheticE2E({ n: 16, seed: 4 }));
const settings = { interval: 3, rounds: 3, minClients: 1, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } };
const auth = { authorization: `Bearer ${TOKEN}` };

async function start(dataDir: string) {
  await selectNodeBackend('wasm', () => {});
  const { app, manager } = await buildApp({ model: { id: 'test-tiny', config: TINY, weights }, token: TOKEN, dataDir, backend: 'wasm' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  return { app, manager, base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}

function expectSame(got: TensorRecord, want: TensorRecord) {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const [k, t] of Object.entries(want)) {
    expect(got[k].shape, k).toEqual(t.shape);
    expect(Array.from(got[k].data), k).toEqual(Array.from(t.data));
  }
}

describe('operator API with a data directory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'splitlora-api-'));
  let server: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => { server = await start(dataDir); });
  afterAll(async () => {
    await server?.app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const get = (app: FastifyInstance, url: string) => app.inject({ url });

  it('refuses every change without the operator token, validates settings, and steers a run with it', async () => {
    const { app, manager } = server;
    for (const headers of [{}, { authorization: 'Bearer wrong-token' }, { authorization: TOKEN }]) {
      const res = await app.inject({ method: 'POST', url: '/api/runs', headers, payload: settings });
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('E_AUTH');
    }
    // The token is checked before the body is parsed.
    const garbled = await app.inject({ method: 'POST', url: '/api/runs', headers: { 'content-type': 'application/json' }, payload: '{not json' });
    expect(garbled.statusCode).toBe(401);
    for (const bad of [{ ...settings, lora: { ...settings.lora, r: 0 } }, { ...settings, bogus: 1 }, { ...settings, wire: 'f64' }]) {
      const res = await app.inject({ method: 'POST', url: '/api/runs', headers: auth, payload: bad });
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      expect(res.json().error).toBe('E_BAD_REQUEST');
    }
    expect((await get(app, '/api/runs')).json().runs).toEqual([]);

    const v = startVolunteer(server.base, examples, 1);
    const created = await app.inject({ method: 'POST', url: '/api/runs', headers: auth, payload: settings });
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    await waitFor(() => manager.runs.get(id)?.state === 'training', 20_000, 'training');
    for (const action of ['pause', 'resume', 'stop']) {
      for (const headers of [{}, { authorization: 'Bearer nope' }]) {
        expect((await app.inject({ method: 'POST', url: `/api/runs/${id}/${action}`, headers, payload: {} })).statusCode).toBe(401);
      }
      expect((await get(app, `/api/runs/${id}`)).json().status).toBe('training');
    }
    expect((await app.inject({ method: 'POST', url: '/api/runs/run-nope/stop', headers: auth })).statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url: `/api/runs/${id}/pause`, headers: auth, payload: {} })).json().status).toBe('paused');
    expect((await get(app, `/api/runs/${id}`)).json().status).toBe('paused');
    expect((await app.inject({ method: 'POST', url: `/api/runs/${id}/resume`, headers: auth, payload: {} })).json().status).toBe('training');
    await waitFor(() => manager.runs.get(id)?.state === 'finished', 60_000, 'the run to finish');
    await manager.recorders.get(id)!.idle(); // the last checkpoint is on disk
    v.stop();
  });

  it('serves the metrics log (JSON, CSV, since), the round timeline and the run with its clients', async () => {
    const { app } = server;
    const [run] = (await get(app, '/api/runs')).json().runs;
    expect(run).toMatchObject({ status: 'finished', round: 3, rounds: 3, step: 9, live: true, checkpoint: { round: 2, file: 'checkpoint-2.safetensors' } });

    const { metrics } = (await get(app, `/api/runs/${run.id}/metrics`)).json();
    const steps = metrics.filter((m: { kind: string }) => m.kind === 'step');
    expect(steps.map((m: { globalStep: number }) => m.globalStep)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const m of steps) expect(Number.isFinite(m.loss) && m.loss > 0 && m.tokens > 0 && typeof m.clientId === 'string').toBe(true);
    expect(metrics.filter((m: { kind: string }) => m.kind === 'round').map((m: { round: number; aggregated: boolean }) => [m.round, m.aggregated])).toEqual([[0, true], [1, true], [2, true]]);
    expect(metrics.filter((m: { kind: string }) => m.kind === 'state').map((m: { state: string }) => m.state)).toEqual(['training', 'paused', 'training', 'finished']);
    const since = steps[4].at;
    const later = (await get(app, `/api/runs/${run.id}/metrics?since=${since}`)).json().metrics;
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((m: { at: number }) => m.at >= since)).toBe(true);
    expect(later).toEqual(metrics.filter((m: { at: number }) => m.at >= since));
    expect((await get(app, `/api/runs/${run.id}/metrics?kind=step&after=${steps[7].id}`)).json().metrics).toEqual([steps[8]]);
    expect((await get(app, `/api/runs/${run.id}/metrics?since=soon`)).statusCode).toBe(400);
    expect((await get(app, '/api/runs/run-nope/metrics')).statusCode).toBe(404);

    const csv = await get(app, `/api/runs/${run.id}/metrics?format=csv`);
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toMatch(/attachment; filename=".*-metrics\.csv"/);
    const lines = csv.body.trimEnd().split('\r\n');
    expect(lines[0]).toBe('id,at,kind,clientId,round,step,globalStep,loss,tokens,extra');
    expect(lines).toHaveLength(metrics.length + 1);
    const firstStep = lines.find((l) => l.split(',')[2] === 'step')!.split(',');
    expect(Number(firstStep[7])).toBe(steps[0].loss);

    const { rounds } = (await get(app, `/api/runs/${run.id}/rounds`)).json();
    expect(rounds.map((r: { round: number; checkpoint: string; participants: number }) => [r.round, r.participants, r.checkpoint])).toEqual([
      [0, 1, 'checkpoint-0.safetensors'], [1, 1, 'checkpoint-1.safetensors'], [2, 1, 'checkpoint-2.safetensors'],
    ]);

    const detail = (await get(app, `/api/runs/${run.id}`)).json();
    expect(detail.clientList).toHaveLength(1);
    const c = detail.clientList[0];
    expect(c).toMatchObject({ backend: 'wasm', userAgent: 'vitest', examples: 16, steps: 9, tokens: steps.reduce((s: number, m: { tokens: number }) => s + m.tokens, 0) });
    expect(c.tokensPerSec).toBeGreaterThan(0);
    expect(c.bytesUp).toBeGreaterThan(0);
    expect(c.bytesDown).toBeGreaterThan(0);
    expect(c.lastSeen).toBeGreaterThan(detail.createdAt - 1);
    expect(c).not.toHaveProperty('resumeToken');
  });

  it('downloads the adapters as a PEFT tar that loads back, live and from the checkpoint after a restart', async () => {
    let { app, manager } = server;
    const [{ id }] = (await get(app, '/api/runs')).json().runs;
    const live = manager.runs.get(id)!;
    const serverAdapter = (await live.opts.engine.snapshot()).adapter;
    const average = live.average;

    const unpack = async (a: FastifyInstance) => {
      const res = await get(a, `/api/runs/${id}/adapter`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/x-tar');
      expect(res.headers['content-disposition']).toBe(`attachment; filename="${id}-round3-adapters.tar"`);
      const files = new Map(readTar(new Uint8Array(res.rawPayload)).map((e) => [e.name, e.data]));
      expect([...files.keys()].sort()).toEqual(['client/adapter_config.json', 'client/adapter_model.safetensors', 'run.json', 'server/adapter_config.json', 'server/adapter_model.safetensors']);
      const load = (part: string) => adapterFromPeft(new TextDecoder().decode(files.get(`${part}/adapter_config.json`)), files.get(`${part}/adapter_model.safetensors`)!);
      const client = load('client');
      const server = load('server');
      expect(client.cfg).toEqual({ r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] });
      expect(JSON.parse(new TextDecoder().decode(files.get('run.json')))).toMatchObject({ runId: id, round: 3, cut: 1, baseModel: 'test-tiny' });
      return { client: client.lora, server: server.lora };
    };
    const fromLive = await unpack(app);
    expectSame(fromLive.client, average);
    expectSame(fromLive.server, serverAdapter);
    expect(Object.keys(fromLive.client).every((k) => k.startsWith('h.0.'))).toBe(true);
    expect(Object.keys(fromLive.server).every((k) => k.startsWith('h.1.'))).toBe(true);

    const runDir = join(dataDir, 'runs', id);
    expect(readdirSync(runDir).sort()).toEqual(['checkpoint-0.safetensors', 'checkpoint-1.safetensors', 'checkpoint-2.safetensors']);
    const ck = decodeCheckpoint(new Uint8Array(readFileSync(join(runDir, 'checkpoint-2.safetensors'))));
    expectSame(ck.client, average);
    expectSame(ck.server, serverAdapter);
    expect(ck.state).toMatchObject({ round: 2, nextRound: 3, globalStep: 9 });
    expect(ck.optimizer.step).toBe(9);

    // A restart: the finished run is history (not resumed), and everything above still answers.
    await app.close();
    server = await start(dataDir);
    ({ app, manager } = server);
    expect(manager.current).toBeNull();
    const [past] = (await get(app, '/api/runs')).json().runs;
    expect(past).toMatchObject({ id, status: 'finished', round: 3, step: 9, live: false });
    expect((await get(app, `/api/runs/${id}`)).json().clientList[0]).toMatchObject({ steps: 9, connected: false, backend: 'wasm' });
    expect((await get(app, `/api/runs/${id}/metrics?kind=step`)).json().metrics).toHaveLength(9);
    expect((await get(app, `/api/runs/${id}/rounds`)).json().rounds).toHaveLength(3);
    const fromDisk = await unpack(app);
    expectSame(fromDisk.client, average);
    expectSame(fromDisk.server, serverAdapter);
    expect((await app.inject({ method: 'POST', url: `/api/runs/${id}/pause`, headers: auth })).statusCode).toBe(409);
    expect((await app.inject({ method: 'POST', url: `/api/runs/${id}/stop`, headers: auth })).json().status).toBe('finished');
  });
});

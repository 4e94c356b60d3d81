// Compute runs off the main thread: while an evaluation (beam search on a 4-layer model, in its own
// worker) and training steps (in the training worker) run, /api/health answers fast and socket
// heartbeats hold; and an evaluation whose worker dies fails alone, while training goes on.
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import type { GPT2Config } from '@splitlora/model';
import { encodeTensor, type Message } from '@splitlora/protocol';
import { buildApp } from '@splitlora/server';
import { afterEach, describe, expect, it } from 'vitest';
import { activations, hello, rawClient } from '../support/raw-client';
import { tinyWeights } from '../kit/tiny';
import { TOKEN, createRun, startVolunteer, waitFor } from '../support/server-harness';

const MEDIUM: GPT2Config = { vocabSize: 50257, nPositions: 128, nEmbd: 128, nLayer: 4, nHead: 4, layerNormEps: 1e-5 };
const settings = { interval: 4, rounds: 1000, minClients: 1, batch: 2, seqLen: 48, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } };
const auth = { authorization: `Bearer ${TOKEN}` };

async function start(heartbeat?: { pingInterval: number; pingTimeout: number }) {
  const { app, manager, evaluations } = await buildApp({ model: { id: 'test-medium', config: MEDIUM, weights: tinyWeights(MEDIUM, 3) }, token: TOKEN, backend: 'wasm', computeFaults: true, heartbeat });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  return { app, manager, evaluations, base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}

type Evaluation = { id: string; status: string; error?: string; startedAt: number; finishedAt?: number };

async function evaluation(server: Awaited<ReturnType<typeof start>>, runId: string, id: string): Promise<Evaluation> {
  const res = await server.app.inject({ url: `/api/runs/${runId}/evaluations` });
  return (res.json().evaluations as Evaluation[]).find((e) => e.id === id)!;
}

describe('compute off the main thread', () => {
  let server: Awaited<ReturnType<typeof start>> | null = null;
  afterEach(async () => { await server?.app.close(); server = null; });

  it('keeps /api/health under 250 ms at p99 and heartbeats alive during a long evaluation and training', async () => {
    // A 250 ms heartbeat with a 1 s timeout: a main thread blocked for about a second drops the client.
    const s = (server = await start({ pingInterval: 250, pingTimeout: 1000 }));
    // A raw client that steps as fast as the server answers (no tfjs on this thread, so the
    // probe measures the server alone): B=4, T=48 activations of the 4-layer model.
    const runId = await createRun(s.app, { ...settings, batch: 4, interval: 100_000, rounds: 1 });
    const raw = rawClient(s.base);
    let disconnects = 0;
    raw.socket.on('disconnect', () => { disconnects += 1; });
    await waitFor(() => raw.socket.connected, 10_000, 'connect');
    hello(raw.socket);
    const welcome = (await raw.next('welcome').catch((e) => { throw new Error(`${e.message}: got ${JSON.stringify(raw.got).slice(0, 400)}`); })) as Message<'welcome'>;
    const B = 4, T = 48, d = MEDIUM.nEmbd;
    let steps = 0;
    const sendStep = () => raw.socket.emit('activations', activations(welcome, steps, {
      batch: B, seqLen: T, acts: encodeTensor({ shape: [B, T, d], data: Float32Array.from({ length: B * T * d }, (_, j) => Math.sin(j)) }, 'f32'),
      targets: new Int32Array(B * T).fill(11), mask: new Float32Array(B * T).fill(1),
    }));
    raw.socket.on('gradient', () => { steps += 1; sendStep(); });
    await waitFor(() => s.manager.runs.get(runId)?.state === 'training', 30_000, 'training');
    sendStep();
    await waitFor(() => steps >= 2, 60_000, 'training to start');

    const res = await s.app.inject({ method: 'POST', url: `/api/runs/${runId}/evaluate`, headers: auth, payload: { limit: 24, e2eMrs: 3 } });
    expect(res.statusCode).toBe(202);
    const id = res.json().evaluationId as string;
    const stepsAtStart = steps;
    const latencies: number[] = [];
    let ev = await evaluation(s, runId, id);
    while (ev.status === 'queued' || ev.status === 'running') {
      const t0 = performance.now();
      const h = await fetch(`${s.base}/api/health`);
      expect(h.status).toBe(200);
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 25));
      ev = await evaluation(s, runId, id);
    }
    expect(ev.status).toBe('done');
    // The probe saw a long evaluation, with training going on beside it.
    expect(ev.finishedAt! - ev.startedAt).toBeGreaterThan(1500);
    expect(latencies.length).toBeGreaterThan(30);
    expect(steps).toBeGreaterThan(stepsAtStart + 2);
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(0.99 * (latencies.length - 1))];
    expect(p99, `p99 of ${latencies.length} probes; max ${latencies.at(-1)!.toFixed(0)} ms`).toBeLessThan(250);
    expect(disconnects).toBe(0);
    expect(raw.got.filter((g) => g.name === 'error')).toEqual([]);
    raw.socket.disconnect();
  }, 180_000);

  it('an evaluation whose worker dies fails alone; training goes on', async () => {
    const s = (server = await start());
    let steps = 0;
    const v = startVolunteer(s.base, encodeExamples(syntheticE2E({ n: 40, seed: 4 })), 2, (e) => { if (e.type === 'step') steps += 1; });
    const runId = await createRun(s.app, settings);
    await waitFor(() => steps >= 2, 60_000, 'training to start');
    const res = await s.app.inject({ method: 'POST', url: `/api/runs/${runId}/evaluate`, headers: auth, payload: { limit: 24, e2eMrs: 3 } });
    const id = res.json().evaluationId as string;
    await waitFor(() => s.evaluations.worker?.health.status === 'ready', 30_000, 'the evaluation worker');
    // Its backend aborts mid-evaluation (requests are served in order, so this lands after the job).
    void s.evaluations.worker!.request({ op: 'fault', kind: 'backend-abort' }).catch(() => {});
    await s.evaluations.worker!.kill();
    let ev = await evaluation(s, runId, id);
    while (ev.status === 'queued' || ev.status === 'running') {
      await new Promise((r) => setTimeout(r, 50));
      ev = await evaluation(s, runId, id);
    }
    expect(ev.status).toBe('failed');
    expect(ev.error).toMatch(/compute worker failed/);
    const before = steps;
    await waitFor(() => steps >= before + 3, 60_000, 'training to go on after the failed evaluation');
    const health = (await s.app.inject({ url: '/api/health' })).json();
    expect(health.ok).toBe(true);
    expect(health.compute).toMatchObject({ status: 'ready', restarts: 0, lastFailure: null });
    v.stop();
  }, 180_000);
});

// Evaluation from the API: held-out loss of a run's adapters (averaged client part + server part),
// checked against the same computation done here by hand (tfjs), on both engines: with the torch
// engine the held-out NLL runs in a torch child of the evaluation worker.
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import { heldoutLoss } from '@splitlora/evaluation';
import { FullModel, SPLITLORA_ADAMW, toWeights } from '@splitlora/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY, tinyWeights } from '../kit/tiny';
import { TOKEN, createRun, startServer, startVolunteer, waitFor } from '../support/server-harness';
import { ENGINES, engineOption } from '../support/torch';

describe.each(ENGINES)('evaluation from the operator API (%s engine)', (engineName) => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => { server = await startServer(TINY, tinyWeights(TINY), engineOption(engineName)); });
  afterAll(async () => { await server?.app.close(); });

  it('scores the run on held-out data with progress, and logs an eval metric', async () => {
    const v = startVolunteer(server.base, encodeExamples(syntheticE2E({ n: 16, seed: 2 })), 1);
    const lora = { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] };
    const runId = await createRun(server.app, { interval: 2, rounds: 1, minClients: 1, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, wire: 'f32', lora });
    const run = server.manager.runs.get(runId)!;
    await waitFor(() => run.state === 'finished', 60_000, 'the run to finish');
    v.stop();

    const denied = await server.app.inject({ method: 'POST', url: `/api/runs/${runId}/evaluate`, payload: { limit: 12 } });
    expect(denied.statusCode).toBe(401);
    const res = await server.app.inject({ method: 'POST', url: `/api/runs/${runId}/evaluate`, headers: { authorization: `Bearer ${TOKEN}` }, payload: { limit: 12 } });
    expect(res.statusCode).toBe(202);
    const id = res.json().evaluationId as string;
    let ev: { status: string; progress: number; result?: Record<string, number | string> } = { status: 'queued', progress: 0 };
    const poll = async () => { ev = (await server.app.inject({ url: `/api/runs/${runId}/evaluations` })).json().evaluations.find((e: { id: string }) => e.id === id); };
    await poll();
    while (ev.status !== 'done' && ev.status !== 'failed') { await new Promise((r) => setTimeout(r, 100)); await poll(); }
    expect(ev.status).toBe('done');
    expect(ev.progress).toBe(1);

    // The same numbers by hand: base + average client adapter + server adapter on the held-out set.
    const adapter = { ...run.average, ...(await run.opts.engine.snapshot()).adapter };
    const model = new FullModel(TINY, toWeights(server.weights), { lora: { ...lora, targets: ['q', 'v'] }, optimizer: { lr: 0, ...SPLITLORA_ADAMW }, adapter });
    const want = await heldoutLoss(model, encodeExamples(syntheticE2E({ n: 200, seed: 987_654 }).slice(0, 12)), { batch: 8 });
    expect(ev.result!.examples).toBe(12);
    expect(ev.result!.nllEngine).toBe(engineName);
    expect(ev.result!.tokens).toBe(want.tokens);
    expect(Math.abs(Number(ev.result!.meanNll) - want.meanNll)).toBeLessThan(engineName === 'tfjs' ? 1e-5 : 1e-4 * want.meanNll);
    const metrics = (await server.app.inject({ url: `/api/runs/${runId}/metrics?kind=eval` })).json().metrics;
    expect(metrics.some((m: { heldoutLoss?: number }) => Math.abs((m.heldoutLoss ?? NaN) - want.meanNll) < 1e-4 * want.meanNll)).toBe(true);
  });
});

// The compute worker fails, and the run loses nothing past its last checkpoint. Run A trains 4
// rounds straight through. Run B, with the same data, seeds and settings, loses its compute worker
// twice: killed in the middle of a step in round 2, and its backend aborting (as a wasm abort does)
// in round 3. Each time the run pauses, the worker restarts, the server part is rebuilt from the
// last aggregation, the volunteer is rewound to its state of that aggregation, and the round is
// redone. B must end where A ended, and health must show the interruptions. Both engines: the
// tfjs worker thread, and the torch engine's child process (SIGKILLed mid-step, then a fatal error);
// and tfjs with each step spread over 2 worker threads (ComputePool: one worker's death fails all).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import type { HealthInfo } from '@splitlora/protocol';
import { buildApp, type ServerCompute } from '@splitlora/server';
import { afterAll, describe, expect, it } from 'vitest';
import { maxDiff, readCheckpoint, reconnectingVolunteer, runStraightThrough } from '../support/exact-run';
import { TINY, tinyWeights } from '../kit/tiny';
import { TOKEN, createRun, waitFor } from '../support/server-harness';
import { ENGINES, engineOption } from '../support/torch';

const weights = tinyWeights();
const examples = encodeExamples(syntheticE2E({ n: 10, seed: 12 }));
const settings = { interval: 2, rounds: 4, minClients: 1, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 2, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0.1, targets: ['q', 'v'] } };
const LAST = settings.rounds - 1;

type Case = 'tfjs' | 'torch' | 'tfjs, 2 workers';
const CASES: Case[] = [...ENGINES, 'tfjs, 2 workers'];

async function start(dataDir: string, c: Case) {
  const engine = c === 'tfjs, 2 workers' ? { engine: 'tfjs' as const, workers: 2, why: 'test' } : engineOption(c);
  const { app, manager } = await buildApp({ model: { id: 'test-tiny', config: TINY, weights }, token: TOKEN, dataDir, backend: 'wasm', engine, computeFaults: true });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  return { app, manager, base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}

describe.each(CASES)('compute failure (%s engine)', (c) => {
  const engineName = c === 'torch' ? 'torch' : 'tfjs';
  const dirs = [mkdtempSync(join(tmpdir(), 'splitlora-compute-a-')), mkdtempSync(join(tmpdir(), 'splitlora-compute-b-'))];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  it('is restarted from the last checkpoint and the run ends as the uninterrupted one', async () => {
    const endA = await runStraightThrough(await start(dirs[0], c), dirs[0], examples, settings); // A

    const b = await start(dirs[1], c);
    expect(b.manager.compute.engine).toBe(engineName);
    const errors: string[] = [];
    // After the first step of round 2 (the volunteer's 5th), the next server step is killed in the
    // middle (the request is posted, then the thread dies). After the first step of round 3 (its
    // 8th, counting the redone ones), the next one makes the backend abort.
    let onStep: (step: number) => void = () => {};
    const vb = reconnectingVolunteer(b.base, examples, (e) => {
      if (e.type === 'error') errors.push(e.code);
      if (e.type === 'step') onStep(e.step);
    });
    const runB = await createRun(b.app, settings);
    const run = b.manager.runs.get(runB)!;
    const engine = run.opts.engine;
    const computes: ServerCompute[] = [];
    onStep = (step) => {
      const compute = engine.compute;
      if (step === 2 * settings.interval + 1) {
        computes.push(compute);
        const step = compute.step.bind(compute);
        compute.step = (group) => {
          const reply = step(group);
          void b.manager.compute.kill();
          return reply;
        };
      } else if (step === 3 * settings.interval + 2) {
        computes.push(compute);
        compute.step = () => b.manager.compute.request({ op: 'fault', kind: 'backend-abort' });
      }
    };
    const health: HealthInfo[] = [];
    const prober = setInterval(() => { void b.app.inject({ url: '/api/health' }).then((r) => health.push(r.json())); }, 20);

    await waitFor(() => run.state === 'finished', 60_000, 'run B to finish');
    clearInterval(prober);
    await b.manager.recorders.get(runB)!.idle();
    const metrics = (await b.app.inject({ url: `/api/runs/${runB}/metrics?kind=state` })).json().metrics as { state: string; reason?: string; event?: string; round: number }[];
    vb.stop();
    await b.app.close();
    const endB = readCheckpoint(dirs[1], runB, LAST);

    // Health told the truth while it happened, and keeps the record.
    expect(health.some((h) => !h.ok && (h.compute.status === 'failed' || h.compute.status === 'starting'))).toBe(true);
    expect(health.some((h) => h.runHold !== null)).toBe(true);
    const last = health.at(-1)!;
    expect(last.ok).toBe(true);
    expect(last.compute.restarts).toBe(2);
    expect(last.compute.lastFailure?.reason).toMatch(engineName === 'tfjs' ? /backend failure: .*Aborted/ : /torch engine failure: .*fault injected/);
    // The run said so, and the volunteer was told its step was lost.
    expect(metrics.filter((m) => m.state === 'paused' && m.reason === 'compute').map((m) => m.round)).toEqual([2, 3]);
    expect(metrics.filter((m) => m.event === 'compute-restored').map((m) => m.round)).toEqual([2, 3]);
    expect(errors).toContain('E_COMPUTE');

    // Nothing was lost past the checkpoints: B ends exactly where A ended.
    expect(endB.state.globalStep).toBe(endA.state.globalStep);
    expect(endB.state.engine).toEqual(endA.state.engine);
    expect(endB.optimizer.step).toBe(endA.optimizer.step);
    const tol = 1e-6;
    expect(maxDiff(endB.client, endA.client)).toBeLessThan(tol);
    expect(maxDiff(endB.server, endA.server)).toBeLessThan(tol);
    expect(maxDiff(endB.optimizer.m, endA.optimizer.m)).toBeLessThan(tol);
    expect(maxDiff(endB.optimizer.v, endA.optimizer.v)).toBeLessThan(tol);
    // B really redid work: the first step of rounds 2 and 3 was taken twice, with a new worker each time.
    expect(vb.stats.step).toBe(endA.state.globalStep + 2);
    expect(computes).toHaveLength(2);
    expect(computes[1]).not.toBe(computes[0]);
    expect(engine.compute).not.toBe(computes[1]);
  }, 180_000);
});

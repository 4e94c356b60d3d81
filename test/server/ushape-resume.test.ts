// The U-shaped split (labels "client") survives what SplitLoRA runs survive, exactly. Run A
// trains 4 rounds straight through. Run B loses its server in round 2 (a restart on the same data
// directory), or its compute worker twice: killed during a backward in round 2, and between the
// two round trips of a step in round 3 (the held forward is gone with the worker, so the
// volunteer's ∂loss/∂h_L is refused and it redoes the step). B must end where A ended.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectNodeBackend } from '@splitlora/backend/node';
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import { buildApp, type CheckpointData } from '@splitlora/server';
import { afterAll, describe, expect, it } from 'vitest';
import { maxDiff, readCheckpoint, reconnectingVolunteer, runStraightThrough } from '../support/exact-run';
import { TINY, tinyWeights } from '../kit/tiny';
import { TOKEN, createRun, waitFor } from '../support/server-harness';

const weights = tinyWeights();
const examples = encodeExamples(syntheticE2E({ n: 10, seed: 12 }));
// Dropout is on: the server's masks are seeded per client step, so a redone step gets the same ones.
const settings = { labels: 'client', interval: 2, rounds: 4, minClients: 1, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 2, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0.1, targets: ['q', 'v'] } };
const LAST = settings.rounds - 1;

async function start(dataDir: string, port = 0) {
  await selectNodeBackend('wasm', () => {});
  const { app, manager } = await buildApp({ model: { id: 'test-tiny', config: TINY, weights }, token: TOKEN, dataDir, logger: false, backend: 'wasm', computeFaults: true });
  await app.listen({ port, host: '127.0.0.1' });
  const addr = app.server.address();
  const p = typeof addr === 'object' && addr ? addr.port : 0;
  return { app, manager, port: p, base: `http://127.0.0.1:${p}` };
}

function expectSameEnd(endB: CheckpointData, endA: CheckpointData): void {
  expect(endB.state.globalStep).toBe(endA.state.globalStep);
  expect(endB.state.engine).toEqual(endA.state.engine);
  expect(endB.optimizer.step).toBe(endA.optimizer.step);
  const tol = 1e-6;
  expect(maxDiff(endB.client, endA.client, 'client average')).toBeLessThan(tol);
  expect(maxDiff(endB.server, endA.server, 'server adapter')).toBeLessThan(tol);
  expect(maxDiff(endB.optimizer.m, endA.optimizer.m, 'server m')).toBeLessThan(tol);
  expect(maxDiff(endB.optimizer.v, endA.optimizer.v, 'server v')).toBeLessThan(tol);
  const [sA, sB] = [Object.values(endA.clientStates)[0], Object.values(endB.clientStates)[0]];
  expect(sB.step).toBe(sA.step);
  expect(sB.dataOrder).toEqual(sA.dataOrder);
  expect(maxDiff(sB.optimizer.m, sA.optimizer.m, 'client m')).toBeLessThan(tol);
}

describe('U-shaped runs resume exactly', () => {
  const dirs = ['a', 'b', 'c'].map((x) => mkdtempSync(join(tmpdir(), `splitlora-ushape-${x}-`)));
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
  let endA: CheckpointData;

  it('after a server restart mid-round', async () => {
    endA = await runStraightThrough(await start(dirs[0]), dirs[0], examples, settings);
    expect(Object.keys(endA.server).length).toBeGreaterThan(0);

    let b = await start(dirs[1]);
    let hang = () => {};
    const restored: number[] = [];
    const vb = reconnectingVolunteer(b.base, examples, (e) => {
      if (e.type === 'step' && e.step === 2 * settings.interval + 1) hang();
      if (e.type === 'restored') restored.push(e.state.step);
    });
    const runB = await createRun(b.app, settings);
    const engine = b.manager.runs.get(runB)!.opts.engine;
    let hung = false;
    hang = () => {
      hung = true;
      engine.submitBackward = () => new Promise(() => {}); // the next step's ∂loss/∂h_L is lost with the server
    };
    await waitFor(() => hung, 60_000, 'round 2 of run B');
    await b.manager.recorders.get(runB)!.idle();
    await b.app.close();
    b = await start(dirs[1], b.port);
    await waitFor(() => restored.length > 0, 30_000, 'the volunteer to reconnect and restore its state');
    expect(restored[0]).toBe(2 * settings.interval);
    await waitFor(() => b.manager.runs.get(runB)?.state === 'finished', 60_000, 'run B to finish');
    await b.manager.recorders.get(runB)!.idle();
    vb.stop();
    await b.app.close();
    expectSameEnd(readCheckpoint(dirs[1], runB, LAST), endA);
    expect(vb.stats.step).toBe(endA.state.globalStep + 1);
  }, 120_000);

  it('after compute failures during a backward and between the two round trips', async () => {
    const c = await start(dirs[2]);
    const errors: string[] = [];
    let onStep: (step: number) => void = () => {};
    const vc = reconnectingVolunteer(c.base, examples, (e) => {
      if (e.type === 'error') errors.push(e.code);
      if (e.type === 'step') onStep(e.step);
    });
    const runC = await createRun(c.app, settings);
    const run = c.manager.runs.get(runC)!;
    const engine = run.opts.engine;
    const patched: string[] = [];
    onStep = (step) => {
      const compute = engine.compute;
      if (step === 2 * settings.interval + 1) {
        const backward = compute.backwardTop.bind(compute);
        compute.backwardTop = (group) => {
          patched.push('backward');
          const reply = backward(group);
          void c.manager.compute.kill(); // dies in the middle of the backward
          return reply;
        };
      } else if (step === 3 * settings.interval + 2) {
        const forward = compute.forwardTop.bind(compute);
        compute.forwardTop = async (group) => {
          patched.push('forward');
          const reply = await forward(group);
          void c.manager.compute.kill(); // h_L goes out, but the held forward dies with the worker
          return reply;
        };
      }
    };
    await waitFor(() => run.state === 'finished', 90_000, 'run C to finish');
    await c.manager.recorders.get(runC)!.idle();
    const metrics = (await c.app.inject({ url: `/api/runs/${runC}/metrics?kind=state` })).json().metrics as { reason?: string; event?: string; round: number }[];
    vc.stop();
    await c.app.close();
    expect(patched).toEqual(['backward', 'forward']);
    expect(metrics.filter((m) => m.event === 'compute-restored').map((m) => m.round)).toEqual([2, 3]);
    expect(errors.some((e) => e === 'E_COMPUTE' || e === 'E_ORDER')).toBe(true);
    expectSameEnd(readCheckpoint(dirs[2], runC, LAST), endA);
    expect(vc.stats.step).toBe(endA.state.globalStep + 2); // the first step of rounds 2 and 3, twice each
  }, 180_000);
});

// A resumed run is the run that was never interrupted. Run A trains 4 rounds straight through.
// Run B, with the same data, seeds and settings, loses its server in round 2 after the volunteer
// has already taken a step there; the server comes back on the same data directory, the
// volunteer reconnects by itself and receives its own AdamW moments, data-order cursor and step
// count from the checkpoint of round 1. From there B must reproduce A: the checkpoint after the
// last round holds the same client average, server adapter, server and client optimizer states.
// On both engines (the server part in a tfjs worker, or in the torch engine's child process).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectNodeBackend } from '@splitlora/backend/node';
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import type { ClientState } from '@splitlora/protocol';
import { buildApp, type CheckpointData } from '@splitlora/server';
import { afterAll, describe, expect, it } from 'vitest';
import { maxDiff, readCheckpoint, reconnectingVolunteer, runStraightThrough } from '../support/exact-run';
import { TINY, tinyWeights } from '../kit/tiny';
import { TOKEN, createRun, waitFor } from '../support/server-harness';
import { ENGINES, engineOption } from '../support/torch';

const weights = tinyWeights();
const examples = encodeExamples(syntheticE2E({ n: 10, seed: 12 }));
// Dropout is on, so the restored step count matters too (it seeds the client's dropout masks).
const settings = { interval: 2, rounds: 4, minClients: 1, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 2, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0.1, targets: ['q', 'v'] } };
const LAST = settings.rounds - 1;

async function start(dataDir: string, engine: 'tfjs' | 'torch', port = 0) {
  await selectNodeBackend('wasm', () => {});
  const { app, manager } = await buildApp({ model: { id: 'test-tiny', config: TINY, weights }, token: TOKEN, dataDir, logger: false, backend: 'wasm', engine: engineOption(engine) });
  await app.listen({ port, host: '127.0.0.1' });
  const addr = app.server.address();
  const p = typeof addr === 'object' && addr ? addr.port : 0;
  return { app, manager, port: p, base: `http://127.0.0.1:${p}` };
}




function onlyState(ck: CheckpointData): ClientState {
  const states = Object.values(ck.clientStates);
  expect(states).toHaveLength(1);
  return states[0];
}

describe.each(ENGINES)('resume after a crash (%s engine)', (engineName) => {
  const dirs = [mkdtempSync(join(tmpdir(), 'splitlora-exact-a-')), mkdtempSync(join(tmpdir(), 'splitlora-exact-b-'))];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('continues exactly as the uninterrupted run, client state included', async () => {
    const endA = await runStraightThrough(await start(dirs[0], engineName), dirs[0], examples, settings); // A

    // B: the server goes away after the volunteer's first step of round 2 (its 5th step), while
    // the step after it hangs on the server, so that step is lost with the server.
    let b = await start(dirs[1], engineName);
    expect(b.manager.compute.engine).toBe(engineName);
    const restored: ClientState[] = [];
    let hang = () => {};
    const vb = reconnectingVolunteer(b.base, examples, (e) => {
      if (e.type === 'step' && e.step === 2 * settings.interval + 1) hang();
      if (e.type === 'restored') restored.push(e.state);
    });
    const runB = await createRun(b.app, settings);
    const engine = b.manager.runs.get(runB)!.opts.engine;
    let hung = false;
    hang = () => {
      hung = true;
      engine.submit = () => new Promise(() => {});
    };
    await waitFor(() => hung, 60_000, 'round 2 of run B');
    await b.manager.recorders.get(runB)!.idle();
    const stepsBeforeCrash = vb.stats.step;
    await b.app.close(); // with the volunteer still connected (this once hung: see app.ts preClose)
    const ck1 = readCheckpoint(dirs[1], runB, 1);
    expect(ck1.state.clients[Object.keys(ck1.clientStates)[0]].steps).toBe(2 * settings.interval);
    expect(stepsBeforeCrash).toBe(2 * settings.interval + 1); // one step past the checkpoint

    b = await start(dirs[1], engineName, b.port);
    await waitFor(() => restored.length > 0, 30_000, 'the volunteer to reconnect and restore its state');
    // What it got back is exactly what the checkpoint holds for it.
    const saved = onlyState(ck1);
    expect(restored[0].step).toBe(saved.step);
    expect(restored[0].dataOrder).toEqual(saved.dataOrder);
    expect(restored[0].optimizer.step).toBe(saved.optimizer.step);
    expect(maxDiff(restored[0].optimizer.m, saved.optimizer.m, 'restored m')).toBe(0);
    expect(maxDiff(restored[0].optimizer.v, saved.optimizer.v, 'restored v')).toBe(0);

    await waitFor(() => b.manager.runs.get(runB)?.state === 'finished', 60_000, 'run B to finish');
    await b.manager.recorders.get(runB)!.idle();
    vb.stop();
    await b.app.close();
    const endB = readCheckpoint(dirs[1], runB, LAST);

    // B ends where A ended.
    expect(endB.state.globalStep).toBe(endA.state.globalStep);
    expect(endB.state.engine).toEqual(endA.state.engine);
    expect(endB.optimizer.step).toBe(endA.optimizer.step);
    const tol = 1e-6;
    expect(maxDiff(endB.client, endA.client, 'client average')).toBeLessThan(tol);
    expect(maxDiff(endB.server, endA.server, 'server adapter')).toBeLessThan(tol);
    expect(maxDiff(endB.optimizer.m, endA.optimizer.m, 'server m')).toBeLessThan(tol);
    expect(maxDiff(endB.optimizer.v, endA.optimizer.v, 'server v')).toBeLessThan(tol);
    const [sA, sB] = [onlyState(endA), onlyState(endB)];
    expect(sB.step).toBe(sA.step);
    expect(sB.dataOrder).toEqual(sA.dataOrder);
    expect(maxDiff(sB.optimizer.m, sA.optimizer.m, 'client m')).toBeLessThan(tol);
    expect(maxDiff(sB.optimizer.v, sA.optimizer.v, 'client v')).toBeLessThan(tol);
    // The interrupted run did real work that the resume threw away and redid.
    expect(vb.stats.step).toBe(sA.step + 1);
  }, 120_000);
});

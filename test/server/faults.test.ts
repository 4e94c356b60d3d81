// Faults and bad input: every bad message gets an error reply with its code, nothing changes in
// the run, and honest volunteers keep training; a client that leaves mid-round does not stall it.
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import { PROTOCOL_VERSION, encodeTensor, type Message } from '@splitlora/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activations, hello, rawClient } from '../support/raw-client';
import { TINY } from '../kit/tiny';
import { createRun, socketTo, startServer, startVolunteer, waitFor } from '../support/server-harness';

const examples = encodeExamples(syntheticE2E({ n: 24, seed: 9 }));
const settings = { batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } };

describe('faults and bad input', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeEach(async () => { server = await startServer(); });
  afterEach(async () => { await server?.app.close(); });

  it('answers each bad message with an error and the run goes on', async () => {
    const steps: number[] = [];
    const uploads: { round: number; adapter: Record<string, { data: Float32Array }> }[] = [];
    const v = startVolunteer(server.base, examples, 1, (e) => {
      if (e.type === 'step') steps.push(e.loss);
      if (e.type === 'uploaded') uploads.push({ round: e.round, adapter: e.adapter });
    });
    const bad = rawClient(server.base);
    await waitFor(() => bad.socket.connected, 10_000, 'connect');
    hello(bad.socket);
    const runId = await createRun(server.app, { ...settings, interval: 2, rounds: 50, minClients: 2, stepDeadlineMs: 4000 });
    const welcome = (await bad.next('welcome')) as Message<'welcome'>;
    const run = server.manager.runs.get(runId)!;
    await waitFor(() => run.state === 'training', 20_000, 'training');
    const d = TINY.nEmbd;

    const cases: [string, () => void, string][] = [
      ['unknown type', () => bad.socket.emit('teleport', { v: PROTOCOL_VERSION }), 'E_UNKNOWN_TYPE'],
      ['hello twice', () => hello(bad.socket), 'E_ORDER'],
      ['wrong version', () => bad.socket.emit('status', { v: 99 }), 'E_VERSION'],
      ['wrong shape', () => bad.socket.emit('activations', activations(welcome, 0, { acts: encodeTensor({ shape: [2, 8, d + 1], data: new Float32Array(2 * 8 * (d + 1)) }, 'f32') })), 'E_SHAPE'],
      ['wrong dtype', () => bad.socket.emit('activations', activations(welcome, 0, { targets: new Float32Array(16) })), 'E_SCHEMA'],
      ['NaN activations', () => bad.socket.emit('activations', activations(welcome, 0, { acts: encodeTensor({ shape: [2, 8, d], data: new Float32Array(2 * 8 * d).fill(Number.NaN) }, 'f32') })), 'E_NONFINITE'],
      ['token id out of range', () => bad.socket.emit('activations', activations(welcome, 0, { targets: new Int32Array(16).fill(60000) })), 'E_RANGE'],
      ['batch over the limit', () => bad.socket.emit('activations', activations(welcome, 0, { batch: 64 })), 'E_TOO_LARGE'],
      ['stale round', () => bad.socket.emit('activations', activations(welcome, 0, { round: welcome.round + 5 })), 'E_ORDER'],
      ['adapter before its steps', () => bad.socket.emit('adapter', { v: PROTOCOL_VERSION, runId, round: welcome.round, examples: 5, tensors: {} }), 'E_ORDER'],
    ];
    const roundBefore = run.round;
    for (const [what, send, code] of cases) {
      const err = await bad.errorAfter(send);
      expect(err.code, what).toBe(code);
      expect(err.message.length, what).toBeGreaterThan(10);
    }
    // Someone else's id: refused on a second socket.
    const thief = rawClient(server.base);
    await waitFor(() => thief.socket.connected, 10_000, 'connect');
    const err = await thief.errorAfter(() => hello(thief.socket, { clientId: v.stats.clientId, resumeToken: 'guess' }));
    expect(err.code).toBe('E_AUTH');

    // Two honest-looking steps, then poisoned adapters: huge norm, then NaN.
    for (let s = 0; s < 2; s++) {
      const n = bad.got.length;
      bad.socket.emit('activations', activations(welcome, s, { round: run.round }));
      await bad.next('gradient', n);
    }
    await bad.next('aggregate-request');
    const shapes = run.adapterShapes();
    const poison = (value: number) => Object.fromEntries(Object.entries(shapes).map(([k, shape]) => [k, { shape, data: new Float32Array(shape[0] * shape[1]).fill(value) }]));
    expect((await bad.errorAfter(() => bad.socket.emit('adapter', { v: PROTOCOL_VERSION, runId, round: run.round, examples: 5, tensors: poison(1e6) }))).code).toBe('E_RANGE');
    expect((await bad.errorAfter(() => bad.socket.emit('adapter', { v: PROTOCOL_VERSION, runId, round: run.round, examples: 5, tensors: poison(Number.NaN) }))).code).toBe('E_NONFINITE');

    // The round closes without the poisoner (step deadline); the average is the volunteer's own upload.
    await waitFor(() => run.round > roundBefore, 30_000, 'the round to close');
    const excluded = (await bad.next('excluded')) as Message<'excluded'>; // told why it was left out
    expect(excluded.round).toBe(roundBefore);
    expect(excluded.reason).toMatch(/deadline/);
    const sent = uploads.find((u) => u.round === roundBefore)!;
    for (const [name, t] of Object.entries(run.average)) expect(Array.from(t.data)).toEqual(Array.from(sent.adapter[name].data));
    // And the honest volunteer keeps training.
    const before = steps.length;
    await waitFor(() => steps.length >= before + 2, 30_000, 'more volunteer steps');
    expect(run.active).toBe(true);
    v.stop();
    bad.socket.disconnect();
    thief.socket.disconnect();
  });

  it('a message over the size limit closes only that connection', async () => {
    const v = startVolunteer(server.base, examples, 2);
    const steps: number[] = [];
    const runId = await createRun(server.app, { ...settings, interval: 2, rounds: 50, minClients: 1 });
    const run = server.manager.runs.get(runId)!;
    const big = rawClient(server.base);
    await waitFor(() => big.socket.connected, 10_000, 'connect');
    big.socket.emit('status', { v: PROTOCOL_VERSION, note: 'x', blob: new Uint8Array(64 * 1024 * 1024) });
    await waitFor(() => !big.socket.connected, 20_000, 'the oversized sender to be disconnected');
    const g = run.globalStep;
    await waitFor(() => run.globalStep >= g + 2, 30_000, 'the volunteer to keep training');
    void steps;
    v.stop();
  });

  it('a client that leaves mid-round does not stall the run', async () => {
    const losses = [0, 0, 0];
    const vs = [1, 2, 3].map((seed, j) => startVolunteer(server.base, examples.slice(0, 8 + j), seed, (e) => { if (e.type === 'step') losses[j] += 1; }));
    const runId = await createRun(server.app, { ...settings, interval: 3, rounds: 2, minClients: 3, stepDeadlineMs: 20_000 });
    const run = server.manager.runs.get(runId)!;
    await waitFor(() => losses[2] >= 1, 30_000, 'the third client to step');
    vs[2].stop(); // gone mid-round 0
    await waitFor(() => run.state === 'finished', 60_000, 'both rounds to complete without it');
    expect(run.round).toBe(2);
    vs.slice(0, 2).forEach((v) => v.stop());
  });

  it('a client that joins late first receives the current average and takes part from the next round', async () => {
    const aggregates: number[] = [];
    const vs = [1, 2].map((seed) => startVolunteer(server.base, examples, seed, (e) => { if (e.type === 'aggregate') aggregates.push(e.round); }));
    const runId = await createRun(server.app, { ...settings, interval: 2, rounds: 3, minClients: 2 });
    const run = server.manager.runs.get(runId)!;
    const averages = new Map<number, Record<string, number[]>>(); // after round r
    const rounds: { round: number; participants: number }[] = [];
    run.on('aggregated', (a: { round: number; average: Record<string, { data: Float32Array }>; participants: string[] }) => {
      averages.set(a.round, Object.fromEntries(Object.entries(a.average).map(([k, t]) => [k, Array.from(t.data)])));
      rounds.push({ round: a.round, participants: a.participants.length });
    });
    const late = rawClient(server.base);
    try {
      await waitFor(() => run.round >= 1, 60_000, 'the first aggregation');
      await waitFor(() => late.socket.connected, 10_000, 'connect');
      hello(late.socket);
      const welcome = (await late.next('welcome')) as Message<'welcome'>;
      expect(welcome.round).toBeGreaterThanOrEqual(1);
      const want = averages.get(welcome.round - 1)!;
      for (const [k, t] of Object.entries(welcome.adapter!.tensors)) expect(Array.from(t.data)).toEqual(want[k]);
      // Not expected in the round it joined: that round closes with the first two clients only.
      await waitFor(() => rounds.some((r) => r.round === welcome.round), 60_000, 'the next aggregation');
      expect(rounds.find((r) => r.round === welcome.round)!.participants).toBe(2);
    } finally {
      vs.forEach((v) => v.stop());
      late.socket.disconnect();
    }
  });
});

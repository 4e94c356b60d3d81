// A volunteer that comes back (a reloaded tab with its identity in sessionStorage) is the same
// client to the run and continues from its checkpointed training state; a second copy of an
// identity in use (a duplicated tab) is refused and joins as a new client instead of hanging.
import { Volunteer, downloadClientModel, type VolunteerEvent, type VolunteerIdentity } from '@splitlora/client';
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import { toWeights } from '@splitlora/model';
import type { ClientState } from '@splitlora/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { createRun, socketTo, startServer, waitFor } from '../support/server-harness';

const examples = encodeExamples(syntheticE2E({ n: 8, seed: 21 }));
const settings = { interval: 2, rounds: 500, minClients: 1, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } };

function volunteer(base: string, identity: VolunteerIdentity | null, events: VolunteerEvent[], also: (e: VolunteerEvent) => void = () => {}) {
  const v = new Volunteer({
    socket: socketTo(base), examples, backend: 'wasm', userAgent: 'vitest', seed: 4, identity,
    onEvent: (e) => {
      events.push(e);
      also(e);
    },
    loadModel: async () => { const m = await downloadClientModel(base); return { config: m.config, weights: toWeights(m.weights) }; },
  });
  v.start();
  return v;
}

describe('a volunteer that comes back', () => {
  let close = async () => {};
  afterAll(() => close());

  it('is the same client, continues from its own state, and a duplicate joins as new', async () => {
    const server = await startServer();
    close = () => server.app.close();
    await createRun(server.app, settings);

    // The tab is reloaded as soon as the first average arrives (before it steps again).
    const first: VolunteerEvent[] = [];
    const v1: Volunteer = volunteer(server.base, null, first, (e) => e.type === 'aggregate' && v1.stop());
    await waitFor(() => first.some((e) => e.type === 'aggregate'), 30_000, 'the first aggregation');
    const identity = (first.find((e) => e.type === 'identity') as { identity: VolunteerIdentity }).identity;
    const uploaded = (first.find((e) => e.type === 'uploaded') as { state: ClientState }).state;

    const second: VolunteerEvent[] = [];
    const v2 = volunteer(server.base, identity, second);
    await waitFor(() => second.some((e) => e.type === 'stats' && e.stats.status === 'waiting'), 30_000, 'the welcome to be handled');
    expect(v2.stats.clientId).toBe(identity.clientId);
    const run = server.manager.current!;
    expect(run.clients.size).toBe(1);
    // Round 1 closed without it (nothing to average), so the average is still round 0's and so is
    // the state that goes with it: the server hands the client its own.
    const restored = second.find((e) => e.type === 'restored') as { state: ClientState } | undefined;
    expect(restored, 'restored event').toBeDefined();
    expect(restored!.state.step).toBe(uploaded.step);
    expect(restored!.state.dataOrder).toEqual(uploaded.dataOrder);
    for (const [k, t] of Object.entries(uploaded.optimizer.v)) expect(Array.from(restored!.state.optimizer.v[k].data), k).toEqual(Array.from(t.data));

    // A duplicated tab with the same identity while v2 is connected: refused, then joins as new.
    const third: VolunteerEvent[] = [];
    const v3 = volunteer(server.base, identity, third);
    await waitFor(() => third.some((e) => e.type === 'identity'), 30_000, 'the duplicate to be welcomed');
    expect(v3.stats.clientId).not.toBe(identity.clientId);
    expect(third.some((e) => e.type === 'log' && e.message.startsWith('joining as a new volunteer'))).toBe(true);
    expect(run.clients.size).toBe(2);
    v2.stop();
    v3.stop();
  });
});

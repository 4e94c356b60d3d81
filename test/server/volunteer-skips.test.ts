// A batch whose completions the run's sequence length cuts off teaches nothing and the server
// would refuse it (E_RANGE): the volunteer skips it locally and trains on, and a refused step is
// not retried forever on the same batch.
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import { afterAll, describe, expect, it } from 'vitest';
import type { VolunteerEvent } from '@splitlora/client';
import { createRun, startServer, startVolunteer, waitFor } from '../support/server-harness';

describe('batches without a completion token', () => {
  let close = async () => {};
  afterAll(() => close());

  it('are skipped by the volunteer, which keeps training', async () => {
    const short = encodeExamples(syntheticE2E({ n: 6, seed: 3 }));
    // A prompt of 60 tokens: with seqLen 40 nothing of its completion is left.
    const long = encodeExamples([{ context: Array.from({ length: 30 }, (_, i) => `word${i}`).join(' '), completion: 'A long one.' }]);
    expect(long[0].context.length).toBeGreaterThan(41);
    const server = await startServer();
    close = () => server.app.close();
    await createRun(server.app, { interval: 10, rounds: 1, minClients: 1, batch: 1, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q'] } });
    const events: VolunteerEvent[] = [];
    const v = startVolunteer(server.base, [...short, ...long], 2, (e) => events.push(e));
    await waitFor(() => server.manager.current?.state === 'finished', 60_000, 'the run to finish');
    v.stop();
    const steps = events.filter((e): e is Extract<VolunteerEvent, { type: 'step' }> => e.type === 'step');
    expect(steps).toHaveLength(10);
    const longIndex = short.length;
    expect(steps.some((s) => s.indices.includes(longIndex))).toBe(false);
    expect(events.some((e) => e.type === 'log' && e.message.startsWith('skipped a batch'))).toBe(true);
    expect(events.filter((e) => e.type === 'error')).toEqual([]);
  });
});

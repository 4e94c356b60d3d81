// An untrusted volunteer: it claims a million examples and uploads an adapter of large values
// (inside the protocol's norm bound, so it is accepted). Under FedAvg it takes over the average;
// under the coordinate-wise median the average stays among the honest volunteers' adapters.
import type { VolunteerEvent } from '@splitlora/client';
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import { PROTOCOL_VERSION, type Message } from '@splitlora/protocol';
import { describe, expect, it } from 'vitest';
import { activations, hello, rawClient } from '../support/raw-client';
import { createRun, startServer, startVolunteer, waitFor } from '../support/server-harness';

const INTERVAL = 2;
const POISON = 5;

type Adapter = Record<string, { data: Float32Array }>;
/** What one honest volunteer uploaded and the average it got back. */
interface Seen {
  uploaded: Adapter | null;
  average: Adapter | null;
}

async function roundWithALiar(aggregation: 'fedavg' | 'median'): Promise<Seen[]> {
  const server = await startServer();
  try {
    const honest: Seen[] = [];
    const volunteers = [1, 2, 3].map((seed) => {
      const slot: Seen = { uploaded: null, average: null };
      honest.push(slot);
      return startVolunteer(server.base, encodeExamples(syntheticE2E({ n: 8, seed })), seed, (e: VolunteerEvent) => {
        if (e.type === 'uploaded') slot.uploaded = e.adapter;
        if (e.type === 'aggregate') slot.average = e.adapter;
      });
    });
    const liar = rawClient(server.base);
    await waitFor(() => liar.socket.connected, 10_000, 'connect');
    hello(liar.socket, { examples: 1_000_000 });
    await createRun(server.app, { interval: INTERVAL, rounds: 1, minClients: 4, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, wire: 'f32', stepDeadlineMs: 30_000, aggregation, lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } });
    const welcome = (await liar.next('welcome')) as Message<'welcome'>;
    await liar.next('run-state');
    await waitFor(() => server.manager.current?.state === 'training', 20_000, 'training');
    // It takes its steps like anyone (so its upload is in order), then poisons the upload.
    for (let step = 0; step < INTERVAL; step++) {
      const n = liar.got.length;
      liar.socket.emit('activations', activations(welcome, step));
      await liar.next('gradient', n);
    }
    await liar.next('aggregate-request');
    const tensors = Object.fromEntries(Object.entries(welcome.adapter!.tensors).map(([k, t]) => [k, { shape: t.shape, data: new Float32Array(t.data.length).fill(POISON) }]));
    liar.socket.emit('adapter', { v: PROTOCOL_VERSION, runId: welcome.runId, round: welcome.round, examples: 1_000_000, tensors });
    await waitFor(() => honest.every((h) => h.average !== null), 30_000, 'the aggregate');
    for (const v of volunteers) v.stop();
    liar.socket.disconnect();
    return honest;
  } finally {
    await server.app.close();
  }
}

/** The largest |value| of the average, and its largest distance outside the honest uploads' range. */
function measure(honest: Seen[]) {
  const average = honest[0].average!;
  let maxAbs = 0;
  let outside = 0;
  for (const [name, t] of Object.entries(average)) {
    t.data.forEach((x, i) => {
      const vals = honest.map((h) => h.uploaded![name].data[i]);
      maxAbs = Math.max(maxAbs, Math.abs(x));
      outside = Math.max(outside, Math.min(...vals) - x, x - Math.max(...vals));
    });
  }
  return { maxAbs, outside };
}

describe('a lying volunteer', () => {
  it('takes over FedAvg but not the coordinate-wise median', async () => {
    const fedavg = measure(await roundWithALiar('fedavg'));
    expect(fedavg.maxAbs).toBeGreaterThan(0.99 * POISON); // a million claimed examples against 24
    const median = measure(await roundWithALiar('median'));
    // With 3 honest uploads and 1 liar, the median of 4 is the mean of the middle two: never
    // outside the honest uploads' range.
    expect(median.outside).toBeLessThanOrEqual(1e-6);
    expect(median.maxAbs).toBeLessThan(1);
  }, 120_000);
});

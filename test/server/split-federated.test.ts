// The whole system in one process: the real server (Fastify + socket.io + msgpack) on loopback,
// three volunteers running the real client loop over socket.io-client.
import type { VolunteerEvent } from '@splitlora/client';
import { encodeExamples, partition, syntheticE2E } from '@splitlora/data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRun, startServer, startVolunteer, waitFor } from '../support/server-harness';

describe('split-federated training over real sockets', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => { server = await startServer(); });
  afterAll(async () => { await server?.app.close(); });

  it('three clients train, aggregate twice to the example-weighted mean, and the loss falls', async () => {
    const text = syntheticE2E({ n: 60, seed: 3 });
    const data = encodeExamples(text);
    const shards = partition(text, 3, 'iid', 1).map((idx, c) => idx.slice(0, 12 + 6 * c).map((i) => data[i])); // unequal shards: 12, 18, 24
    const uploads: { round: number; adapter: Record<string, { shape: number[]; data: Float32Array }>; examples: number }[] = [];
    const aggregates: { client: number; round: number }[] = [];
    const losses: number[][] = [[], [], []];
    const volunteers = shards.map((examples, c) =>
      startVolunteer(server.base, examples, c, (e: VolunteerEvent) => {
          if (e.type === 'uploaded') uploads.push({ round: e.round, adapter: e.adapter, examples: e.examples });
          if (e.type === 'aggregate') aggregates.push({ client: c, round: e.round });
          if (e.type === 'step') losses[c].push(e.loss);
      }),
    );
    const runId = await createRun(server.app, { interval: 4, rounds: 2, minClients: 3, batch: 4, seqLen: 48, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f32', lora: { r: 4, alpha: 8, dropout: 0, targets: ['q', 'v', 'mlp.c_fc'] } });
    await waitFor(() => aggregates.length === 6, 120_000, 'two aggregations on three clients');

    for (const round of [0, 1]) {
      const sent = uploads.filter((u) => u.round === round);
      expect(sent).toHaveLength(3);
      const total = sent.reduce((s, u) => s + u.examples, 0);
      const held = await Promise.all(volunteers.map((v) => v.adapter()));
      if (round === 1) {
        // After the last aggregation every client holds the weighted mean of what was sent.
        for (const [name, t] of Object.entries(sent[0].adapter)) {
          const mean = t.data.map((_, j) => sent.reduce((s, u) => s + u.adapter[name].data[j] * u.examples, 0) / total);
          for (const h of held) {
            const got = h![name].data;
            for (let j = 0; j < mean.length; j++) expect(Math.abs(got[j] - mean[j])).toBeLessThan(1e-6);
          }
        }
      }
    }
    const run = (await server.app.inject({ url: `/api/runs/${runId}` })).json();
    expect(run.status).toBe('finished');
    expect(run.round).toBe(2);
    for (const l of losses) {
      expect(l).toHaveLength(8);
      expect(l[l.length - 1]).toBeLessThan(l[0]);
    }
    for (const v of volunteers) v.stop();
  });
});

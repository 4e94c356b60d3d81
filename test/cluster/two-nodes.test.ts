// One run over a real redis-server: a coordinator (API, rounds, aggregation) and two nodes that
// each hold two volunteers' sockets and train their own replica of the server LoRA. Volunteers
// download the client model from the coordinator and connect to their node directly.
import type { VolunteerEvent } from '@splitlora/client';
import { encodeExamples, partition, syntheticE2E } from '@splitlora/data';
import type { TensorRecord } from '@splitlora/model';
import type { ServerAverageEvent } from '@splitlora/server';
import type { ServerSnapshot } from '@splitlora/server';
import { describe, expect, it } from 'vitest';
import { nodeVolunteer, useCluster } from '../support/cluster';
import { maxDiff } from '../support/exact-run';
import { createRun, waitFor } from '../support/server-harness';

type Collected = { node: string; round: number; tokens: number; steps: number; snapshot: ServerSnapshot };

/** Σ w_i·x_i / Σ w_i per tensor, in float64 (the test's own arithmetic, not the code under test). */
function weightedMean(records: TensorRecord[], weights: number[]): TensorRecord {
  const total = weights.reduce((a, b) => a + b, 0);
  const out: TensorRecord = {};
  for (const [k, t] of Object.entries(records[0])) {
    const acc = new Float64Array(t.data.length);
    records.forEach((r, i) => r[k].data.forEach((x, j) => { acc[j] += (weights[i] / total) * x; }));
    out[k] = { shape: t.shape, data: Float32Array.from(acc) };
  }
  return out;
}

describe('a cluster run: coordinator + 2 nodes over Redis', () => {
  const cluster = useCluster(['node-a', 'node-b']);

  it('4 volunteers on 2 nodes finish their rounds with one averaged adapter, and the server replicas are averaged by tokens', async () => {
    const { coordinator, base, nodes, model } = cluster;
    const text = syntheticE2E({ n: 48, seed: 5 });
    const data = encodeExamples(text);
    const shards = partition(text, 4, 'iid', 2).map((idx, c) => idx.slice(0, 8 + 2 * c).map((i) => data[i]));
    const collected: Collected[] = [];
    nodes.forEach((n) => n.on('collected', (e: Omit<Collected, 'node'>) => collected.push({ node: n.id, ...e })));
    const averages: ServerAverageEvent[] = [];
    coordinator.cluster!.on('server-average', (e: ServerAverageEvent) => averages.push(e));
    const uploads: { client: number; round: number; adapter: TensorRecord; examples: number }[] = [];
    const aggregates: { client: number; round: number }[] = [];
    const errors: string[] = [];
    const volunteers = shards.map((examples, c) => {
      return nodeVolunteer(base, `http://127.0.0.1:${nodes[c % 2].port}`, examples, c, (e: VolunteerEvent) => {
        if (e.type === 'uploaded') uploads.push({ client: c, round: e.round, adapter: e.adapter, examples: e.examples });
        if (e.type === 'aggregate') aggregates.push({ client: c, round: e.round });
        if (e.type === 'error') errors.push(`${c}: ${e.code} ${e.message}`);
      });
    });
    const interval = 3;
    const [B, T] = [2, 32];
    const runId = await createRun(coordinator.app, { interval, rounds: 2, minClients: 4, batch: B, seqLen: T, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } });
    await waitFor(() => aggregates.length === 8, 90_000, 'two aggregations reaching all four volunteers');
    await waitFor(() => averages.length === 2, 10_000, 'two server averages');

    const run = (await coordinator.app.inject({ url: `/api/runs/${runId}` })).json();
    expect(run.status).toBe('finished');
    expect(run.round).toBe(2);
    expect(run.step).toBe(4 * interval * 2);
    expect(errors).toEqual([]);

    // Client side: everyone holds the example-weighted mean of round 1's uploads.
    const last = uploads.filter((u) => u.round === 1);
    expect(last.map((u) => u.client).sort()).toEqual([0, 1, 2, 3]);
    const mean = weightedMean(last.map((u) => u.adapter), last.map((u) => u.examples));
    const held = await Promise.all(volunteers.map((v) => v.adapter()));
    for (const h of held) expect(maxDiff(mean, h!)).toBeLessThan(1e-6);

    // Server side: per round, each node's replica trained on its own two volunteers' tokens.
    for (const round of [0, 1]) {
      const reps = collected.filter((c) => c.round === round);
      expect(reps.map((r) => r.node).sort()).toEqual(['node-a', 'node-b']);
      for (const r of reps) expect(r.tokens).toBe(2 * interval * B * T);
      // The replicas really differ before averaging (different volunteers' data)...
      expect(maxDiff(reps[0].snapshot.adapter, reps[1].snapshot.adapter)).toBeGreaterThan(1e-6);
      const avg = averages.find((a) => a.round === round)!;
      const want = weightedMean(reps.map((r) => r.snapshot.adapter), reps.map((r) => r.tokens));
      expect(maxDiff(want, avg.average.adapter)).toBeLessThan(1e-6);
      const wantM = weightedMean(reps.map((r) => r.snapshot.optimizer.m), reps.map((r) => r.tokens));
      expect(maxDiff(wantM, avg.average.optimizer.m)).toBeLessThan(1e-6);
    }
    // ...and after the last aggregation the coordinator's part (the checkpoint's) and both nodes' replicas are that mean.
    const finalWant = weightedMean(collected.filter((c) => c.round === 1).map((r) => r.snapshot.adapter), collected.filter((c) => c.round === 1).map((r) => r.tokens));
    const live = coordinator.manager.runs.get(runId)!;
    expect(maxDiff(finalWant, (await coordinator.manager.serverSnapshot(live)).adapter)).toBeLessThan(1e-6);
    for (const n of nodes) {
      expect(n.replica?.round).toBe(2);
      expect(maxDiff(finalWant, (await n.replica!.engine.snapshot()).adapter)).toBeLessThan(1e-6);
    }
    for (const v of volunteers) v.stop();
  }, 120_000);
});

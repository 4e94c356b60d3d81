// Redis dies (SIGKILL) mid-run and a fresh, empty one comes back on the same port. The coordinator
// pauses the run while Redis is away, then restarts the round from the last aggregate: the nodes
// reopen their replicas from it and every volunteer redoes the round. Nothing silently diverges:
// the steps count once, every volunteer ends on the same adapter, and the nodes' replicas equal
// the coordinator's server part.
import type { VolunteerEvent } from '@splitlora/client';
import { encodeExamples, partition, syntheticE2E } from '@splitlora/data';
import type { TensorRecord } from '@splitlora/model';
import type { RunMetric } from '@splitlora/server';
import { describe, expect, it } from 'vitest';
import { nodeVolunteer, useCluster } from '../support/cluster';
import { maxDiff } from '../support/exact-run';
import { createRun, waitFor } from '../support/server-harness';

describe('cluster: Redis restarts mid-run', () => {
  const cluster = useCluster(['node-a', 'node-b']);

  it('pauses, restarts the round from the last aggregate, and finishes with the replicas in agreement', async () => {
    const { redis, coordinator, nodes } = cluster;
    const text = syntheticE2E({ n: 32, seed: 11 });
    const data = encodeExamples(text);
    const shards = partition(text, 2, 'iid', 4).map((idx) => idx.slice(0, 10).map((i) => data[i]));
    const events: VolunteerEvent[][] = [[], []];
    const volunteers = shards.map((examples, c) => {
      return nodeVolunteer(cluster.base, `http://127.0.0.1:${cluster.nodes[c].port}`, examples, c, (e) => events[c].push(e));
    });
    const aggregated = (c: number, round: number) => events[c].some((e) => e.type === 'aggregate' && e.round === round);
    const interval = 3;
    const runId = await createRun(coordinator.app, { interval, rounds: 3, minClients: 2, batch: 2, seqLen: 24, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } });
    const run = coordinator.manager.runs.get(runId)!;
    const metrics: RunMetric[] = [];
    run.on('metric', (m: RunMetric) => metrics.push(m));
    await waitFor(() => aggregated(0, 0) && aggregated(1, 0), 60_000, 'round 0 to reach both volunteers');

    await redis.restart();
    await waitFor(() => metrics.some((m) => m.kind === 'state' && m.event === 'compute-restored'), 30_000, 'the run to go on after Redis is back');
    const paused = metrics.find((m) => m.kind === 'state' && m.state === 'paused');
    expect(String(paused?.detail)).toMatch(/redis/);

    await waitFor(() => aggregated(0, 2) && aggregated(1, 2), 60_000, 'the last round to reach both volunteers');
    await waitFor(() => run.state === 'finished', 10_000, 'the run to finish');
    expect(run.round).toBe(3);
    // The round Redis interrupted was redone, not counted twice.
    expect(run.globalStep).toBe(2 * interval * 3);
    const held = (await Promise.all(volunteers.map((v) => v.adapter()))) as TensorRecord[];
    expect(maxDiff(held[0], held[1])).toBeLessThan(1e-6);
    await waitFor(() => nodes.every((n) => n.replica?.round === 3), 10_000, 'both replicas to hold the last average');
    const server = (await coordinator.manager.serverSnapshot(run)).adapter;
    for (const n of nodes) expect(maxDiff(server, (await n.replica!.engine.snapshot()).adapter)).toBeLessThan(1e-6);
    for (const v of volunteers) v.stop();
  }, 120_000);
});

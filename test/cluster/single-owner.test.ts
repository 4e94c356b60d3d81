// serverReplicas "single": one node owns the server model and the other nodes forward their
// volunteers' activations to it over Redis. The same run, with the server's steps in a fixed order
// (lockstep), on 1 node and on 2 nodes: every loss and the final adapters must agree. Then the
// owner dies mid-run: the run pauses with a coded reason, the next node takes the server model
// over from the last aggregate and the run finishes.
import { Volunteer, downloadClientModel, type VolunteerEvent } from '@splitlora/client';
import { encodeExamples, partition, syntheticE2E } from '@splitlora/data';
import { lockstep } from '@splitlora/lab';
import { toWeights, type TensorRecord } from '@splitlora/model';
import type { ServerAverageEvent } from '@splitlora/server';
import { describe, expect, it } from 'vitest';
import { nodeVolunteer, useCluster, type Cluster } from '../support/cluster';
import { maxDiff } from '../support/exact-run';
import { TOKEN, createRun, socketTo, waitFor } from '../support/server-harness';

const INTERVAL = 3;
const ROUNDS = 2;
// f16 on the wire: forwarded steps cross Redis in the volunteer's wire format, both ways.
const SETTINGS = {
  interval: INTERVAL, rounds: ROUNDS, minClients: 4, batch: 2, seqLen: 32, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f16',
  lora: { r: 2, alpha: 4, dropout: 0.1, targets: ['q', 'v'] }, seed: 3,
};

function shards() {
  const text = syntheticE2E({ n: 48, seed: 5 });
  const data = encodeExamples(text);
  return partition(text, 4, 'iid', 2).map((idx, c) => idx.slice(0, 8 + 2 * c).map((i) => data[i]));
}

interface Outcome {
  /** `${volunteer}:${local step}` → the loss the server computed for it. */
  losses: Map<string, number>;
  clients: TensorRecord[];
  server: TensorRecord;
  serverTokens: number[];
}

/** 4 volunteers, volunteer c on node placement[c], their steps in lockstep; runs to the end. */
async function lockstepRun(cluster: Cluster, placement: number[], settings: Record<string, unknown>): Promise<Outcome> {
  const { coordinator, base, nodes } = cluster;
  const averages: ServerAverageEvent[] = [];
  coordinator.cluster!.on('server-average', (e: ServerAverageEvent) => averages.push(e));
  const losses = new Map<string, number>();
  const errors: string[] = [];
  let aggregates = 0;
  const sockets = placement.map((n) => socketTo(`http://127.0.0.1:${nodes[n].port}`));
  lockstep(sockets);
  const volunteers = shards().map((examples, c) => {
    const v = new Volunteer({
      socket: sockets[c], examples, backend: 'wasm', userAgent: 'vitest', seed: c,
      loadModel: async () => { const m = await downloadClientModel(base, { dtype: 'F32' }); return { config: m.config, weights: toWeights(m.weights) }; },
      onEvent: (e: VolunteerEvent) => {
        if (e.type === 'step') losses.set(`${c}:${e.step}`, e.loss);
        if (e.type === 'aggregate') aggregates += 1;
        if (e.type === 'error') errors.push(`${c}: ${e.code} ${e.message}`);
      },
    });
    v.start();
    return v;
  });
  const runId = await createRun(coordinator.app, settings);
  await waitFor(() => aggregates === 4 * ROUNDS, 120_000, `${ROUNDS} aggregations reaching all four volunteers`);
  await waitFor(() => averages.length === ROUNDS, 10_000, 'the server state of every round');
  const run = (await coordinator.app.inject({ url: `/api/runs/${runId}` })).json();
  expect(run.status).toBe('finished');
  expect(run.step).toBe(4 * INTERVAL * ROUNDS);
  expect(errors).toEqual([]);
  expect(losses.size).toBe(4 * INTERVAL * ROUNDS);
  const clients = (await Promise.all(volunteers.map((v) => v.adapter()))) as TensorRecord[];
  const server = (await coordinator.manager.serverSnapshot(coordinator.manager.runs.get(runId)!)).adapter;
  for (const v of volunteers) v.stop();
  return { losses, clients, server, serverTokens: nodes.map((n) => n.replica!.engine.stats.tokens) };
}

let solo: Outcome | null = null;

describe('serverReplicas "single": 1 node', () => {
  const cluster = useCluster(['solo']);
  it('trains the lockstep run on one node (the reference)', async () => {
    solo = await lockstepRun(cluster, [0, 0, 0, 0], SETTINGS);
    expect(solo.serverTokens[0]).toBeGreaterThan(0);
  }, 150_000);
});

describe('serverReplicas "single": 2 nodes', () => {
  const cluster = useCluster(['node-a', 'node-b']);

  it('refuses the U-shaped split at run creation, with a coded error', async () => {
    const res = await cluster.coordinator.app.inject({ method: 'POST', url: '/api/runs', headers: { authorization: `Bearer ${TOKEN}` }, payload: { ...SETTINGS, serverReplicas: 'single', labels: 'client' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'E_BAD_REQUEST', message: expect.stringMatching(/serverReplicas: "single" does not serve the U-shaped split/) });
  });

  it('reproduces the 1-node run: every loss and the final adapters within 1e-4, all server steps on the owner', async () => {
    expect(solo, 'the 1-node run (the describe above) must run first').not.toBeNull();
    // Volunteers 0 and 2 on the owner (node-a: the lowest id), 1 and 3 forward from node-b: the steps alternate.
    const two = await lockstepRun(cluster, [0, 1, 0, 1], { ...SETTINGS, serverReplicas: 'single' });
    const runId = cluster.coordinator.manager.current!.id;
    expect((cluster.coordinator.cluster as unknown as { ownerOf(id: string): string | null }).ownerOf(runId)).toBe('node-a');
    expect(two.serverTokens).toEqual([solo!.serverTokens[0], 0]); // node-b computed nothing itself

    expect([...two.losses.keys()].sort()).toEqual([...solo!.losses.keys()].sort());
    let worstLoss = 0;
    for (const [k, loss] of solo!.losses) worstLoss = Math.max(worstLoss, Math.abs(loss - two.losses.get(k)!));
    expect(worstLoss).toBeLessThan(1e-4);
    expect(maxDiff(solo!.server, two.server, 'server adapter')).toBeLessThan(1e-4);
    for (let c = 0; c < 4; c++) expect(maxDiff(solo!.clients[c], two.clients[c], `client ${c}'s adapter`)).toBeLessThan(1e-4);
    // The coordinator checkpoints the owner's server model as it is (no averaging)...
    const owner = await cluster.nodes[0].replica!.engine.snapshot();
    expect(maxDiff(owner.adapter, two.server)).toBe(0);
    // ...and it moved: the comparison is not between two untrained models.
    expect(Object.values(two.server).some((t) => t.data.some((x) => Math.abs(x) > 1e-3))).toBe(true);
  }, 150_000);
});

describe('serverReplicas "single": the owner dies', () => {
  const cluster = useCluster(['node-a', 'node-b']);

  it('pauses the run with the reason, hands the server model to the next node from the last aggregate, and finishes', async () => {
    const { coordinator, base, nodes } = cluster;
    const [owner, other] = nodes;
    const data = shards();
    const rounds = 3;
    let aggregates = 0;
    const volunteers = [0, 1].map((c) => nodeVolunteer(base, `http://127.0.0.1:${other.port}`, data[c], c, (e: VolunteerEvent) => {
      if (e.type === 'aggregate') aggregates += 1;
    }));
    const runId = await createRun(coordinator.app, { ...SETTINGS, minClients: 2, rounds, serverReplicas: 'single', stepDeadlineMs: 60_000 });
    await waitFor(() => aggregates === 2, 60_000, 'the first aggregation');
    await owner.close();
    nodes.splice(0, 1); // closed: the cluster's afterAll must not close it again
    await waitFor(() => coordinator.manager.runs.get(runId)?.state === 'finished', 90_000, 'the run to finish on the new owner');

    const state = (await coordinator.app.inject({ url: `/api/runs/${runId}/metrics?kind=state` })).json().metrics as { state: string; detail?: string; event?: string }[];
    expect(state.some((m) => m.state === 'paused' && /server model's owner, node node-a, is gone/.test(m.detail ?? ''))).toBe(true);
    expect(state.some((m) => m.event === 'compute-restored')).toBe(true);
    expect((coordinator.cluster as unknown as { ownerOf(id: string): string | null }).ownerOf(runId)).toBe('node-b');
    const run = (await coordinator.app.inject({ url: `/api/runs/${runId}` })).json();
    expect(run.round).toBe(rounds);
    expect(run.step).toBe(2 * INTERVAL * rounds); // the restarted round counts once
    // The new owner's server model is the one the coordinator checkpoints.
    const live = coordinator.manager.runs.get(runId)!;
    expect(maxDiff((await other.replica!.engine.snapshot()).adapter, (await coordinator.manager.serverSnapshot(live)).adapter)).toBe(0);
    for (const v of volunteers) v.stop();
  }, 150_000);
});

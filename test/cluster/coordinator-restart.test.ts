// The coordinator stops mid-run and a new one starts on the same data directory and Redis: it
// resumes the run from its checkpoint, the nodes notice the new coordinator, reopen their server
// replicas from that checkpoint and say hello again for their volunteers, who come back as
// themselves and finish the run. Nothing past the last aggregation counts twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectNodeBackend } from '@splitlora/backend/node';
import { Volunteer, downloadClientModel, type VolunteerEvent } from '@splitlora/client';
import { encodeExamples, partition, syntheticE2E } from '@splitlora/data';
import { toWeights, type TensorRecord } from '@splitlora/model';
import { ClusterNode, buildApp } from '@splitlora/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRedis } from '../support/redis';
import { TINY, tinyWeights } from '../kit/tiny';
import { TOKEN, createRun, socketTo, waitFor } from '../support/server-harness';

describe('cluster: the coordinator restarts mid-run', () => {
  let redis: TestRedis;
  const nodes: ClusterNode[] = [];
  const apps: Awaited<ReturnType<typeof buildApp>>[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'splitlora-cluster-'));
  const model = { id: 'test-tiny', config: TINY, weights: tinyWeights() };

  async function coordinator() {
    const c = await buildApp({ model, token: TOKEN, backend: 'wasm', redis: redis.url, dataDir });
    await c.app.listen({ port: 0, host: '127.0.0.1' });
    apps.push(c);
    const addr = c.app.server.address();
    return { ...c, base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
  }

  beforeAll(async () => {
    await selectNodeBackend('wasm', () => {});
    redis = await TestRedis.start();
    for (const id of ['node-a', 'node-b']) nodes.push(await ClusterNode.start({ redis: redis.url, port: 0, model, backend: 'wasm', id }));
  }, 60_000);
  afterAll(async () => {
    for (const n of nodes) await n.close();
    for (const a of apps) await a.app.close().catch(() => {});
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('resumes from the checkpoint; the nodes re-register their volunteers, who finish the run as themselves', async () => {
    const first = await coordinator();
    const text = syntheticE2E({ n: 32, seed: 9 });
    const data = encodeExamples(text);
    const shards = partition(text, 2, 'iid', 3).map((idx) => idx.slice(0, 10).map((i) => data[i]));
    const events: VolunteerEvent[][] = [[], []];
    const volunteers = shards.map((examples, c) => {
      const v = new Volunteer({
        socket: socketTo(`http://127.0.0.1:${nodes[c].port}`), examples, backend: 'wasm', userAgent: 'vitest', seed: c,
        loadModel: async () => { const m = await downloadClientModel(first.base, { dtype: 'F32' }); return { config: m.config, weights: toWeights(m.weights) }; },
        onEvent: (e) => events[c].push(e),
      });
      v.start();
      return v;
    });
    const aggregated = (c: number, round: number) => events[c].some((e) => e.type === 'aggregate' && e.round === round);
    const interval = 3;
    const runId = await createRun(first.app, { interval, rounds: 3, minClients: 2, batch: 2, seqLen: 24, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } });
    await waitFor(() => aggregated(0, 0) && aggregated(1, 0), 60_000, 'round 0 to reach both volunteers');
    await first.manager.recorders.get(runId)!.idle();
    await first.app.close();

    const second = await coordinator();
    const resumed = second.manager.runs.get(runId)!;
    expect(resumed).toBeDefined();
    const resumedAt = resumed.round;
    expect(resumedAt).toBeGreaterThanOrEqual(1);
    await waitFor(() => aggregated(0, 2) && aggregated(1, 2), 60_000, 'the last round to reach both volunteers');
    await waitFor(() => resumed.state === 'finished', 10_000, 'the resumed run to finish');
    expect(resumed.round).toBe(3);
    // Every round counted exactly once: the steps done on the first coordinator after its last checkpoint were redone, not added.
    expect(resumed.globalStep).toBe(2 * interval * 3);

    for (const [c, ev] of events.entries()) {
      // One identity, from the first welcome: the node's re-registration brought the same client back.
      const ids = new Set(ev.filter((e) => e.type === 'identity').map((e) => (e as { identity: { clientId: string } }).identity.clientId));
      expect(ids.size, `volunteer ${c} identities`).toBe(1);
      expect(ev.some((e) => e.type === 'restored'), `volunteer ${c} got its state back`).toBe(true);
    }
    const held = (await Promise.all(volunteers.map((v) => v.adapter()))) as TensorRecord[];
    for (const [k, t] of Object.entries(held[0])) for (let j = 0; j < t.data.length; j++) expect(Math.abs(t.data[j] - held[1][k].data[j])).toBeLessThan(1e-6);
    // The nodes' replicas follow the new coordinator to the end.
    await waitFor(() => nodes.every((n) => n.replica?.round === 3), 10_000, 'both replicas to hold the last average');
    for (const v of volunteers) v.stop();
  }, 120_000);
});

// The coordinator lists its live nodes' public URLs (`node --public-url`) at /api/nodes: that is
// where a volunteer page finds the nodes to fail over between. A node without a public URL is not
// listed, nor is one whose heartbeat has expired. A Node volunteer given the list trains through it.
import { Volunteer, downloadClientModel, fetchNodeUrls, type VolunteerEvent } from '@splitlora/client';
import { encodeExamples, syntheticE2E } from '@splitlora/data';
import { toWeights } from '@splitlora/model';
import { msgpackParser } from '@splitlora/protocol';
import { ClusterNode } from '@splitlora/server';
import { io } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { useCluster } from '../support/cluster';
import { freePort } from '../support/free-port';
import { createRun, waitFor } from '../support/server-harness';

describe('cluster: the node list at /api/nodes', () => {
  const cluster = useCluster(['node-private']);

  it('lists the live nodes that have a public URL, and a volunteer given that list trains through one', async () => {
    const { redis, base, coordinator, model } = cluster;
    expect(await fetchNodeUrls(base)).toEqual([]); // node-private has no public URL
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const pub = await ClusterNode.start({ redis: redis.url, port, model, backend: 'wasm', id: 'node-public', publicUrl: url });
    try {
      expect(await (await fetch(`${base}/api/nodes`)).json()).toEqual({ nodes: [{ id: 'node-public', url }] });
      const urls = await fetchNodeUrls(base);
      expect(urls).toEqual([url]);

      const events: VolunteerEvent[] = [];
      const examples = encodeExamples(syntheticE2E({ n: 8, seed: 4 }));
      const connect = (u: string) => io(u, { parser: msgpackParser, transports: ['websocket'], forceNew: true });
      const v = new Volunteer({
        nodes: { urls, connect }, examples, backend: 'wasm', userAgent: 'vitest', seed: 1, onEvent: (e) => events.push(e),
        loadModel: async () => { const m = await downloadClientModel(base, { dtype: 'F32' }); return { config: m.config, weights: toWeights(m.weights) }; },
      });
      v.start();
      const runId = await createRun(coordinator.app, { interval: 2, rounds: 1, minClients: 1, batch: 2, seqLen: 24, wire: 'f32', serverWarmup: 0 });
      const run = coordinator.manager.runs.get(runId)!;
      await waitFor(() => run.state === 'finished', 60_000, 'the run to finish');
      expect(v.stats.node).toBe(url);
      expect(events.some((e) => e.type === 'failover')).toBe(false);
      // Its steps were computed on that node's replica.
      expect(pub.replica?.engine.stats.tokens).toBeGreaterThan(0);
      v.stop();
    } finally {
      await pub.close();
    }
    // Its heartbeat key expires within HEARTBEAT_TTL_S (3 s): then it is off the list.
    const t0 = Date.now();
    while ((await fetchNodeUrls(base)).length > 0) {
      if (Date.now() - t0 > 15_000) throw new Error('the closed node is still listed after 15 s');
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 90_000);
});

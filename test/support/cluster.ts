// The cluster tests' common setup: a real redis-server, a coordinator (`serve --redis`) on the tiny
// model, and in-process nodes, started before the file's tests and stopped after them; and a
// volunteer on a node's socket that downloads its model from the coordinator.
import { selectNodeBackend } from '@splitlora/backend/node';
import { Volunteer, downloadClientModel, type VolunteerEvent, type VolunteerOptions } from '@splitlora/client';
import type { EncodedExample } from '@splitlora/data';
import { toWeights } from '@splitlora/model';
import { ClusterNode, buildApp } from '@splitlora/server';
import { afterAll, beforeAll } from 'vitest';
import { TestRedis } from './redis';
import { TINY, tinyWeights } from '../kit/tiny';
import { TOKEN, socketTo } from './server-harness';

export interface Cluster {
  redis: TestRedis;
  coordinator: Awaited<ReturnType<typeof buildApp>>;
  /** The coordinator's URL (API, model files). */
  base: string;
  nodes: ClusterNode[];
  model: { id: string; config: typeof TINY; weights: ReturnType<typeof tinyWeights> };
}

/** Starts Redis, the coordinator and one in-process node per id in beforeAll; stops them in afterAll. */
export function useCluster(nodeIds: string[], cleanup: () => void | Promise<void> = () => {}): Cluster {
  const c = { nodes: [] as ClusterNode[], model: { id: 'test-tiny', config: TINY, weights: tinyWeights() } } as Cluster;
  beforeAll(async () => {
    await selectNodeBackend('wasm', () => {});
    c.redis = await TestRedis.start();
    c.coordinator = await buildApp({ model: c.model, token: TOKEN, backend: 'wasm', redis: c.redis.url });
    await c.coordinator.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = c.coordinator.app.server.address();
    c.base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    for (const id of nodeIds) c.nodes.push(await ClusterNode.start({ redis: c.redis.url, port: 0, model: c.model, backend: 'wasm', id }));
  }, 60_000);
  afterAll(async () => {
    await cleanup();
    for (const n of c.nodes) await n.close();
    await c.coordinator?.app.close();
    await c.redis?.stop();
  });
  return c;
}

/** A started volunteer whose socket goes to `nodeUrl` and whose client model comes from the coordinator. */
export function nodeVolunteer(base: string, nodeUrl: string, examples: EncodedExample[], seed: number, onEvent: (e: VolunteerEvent) => void, extra: Partial<VolunteerOptions> = {}): Volunteer {
  const v = new Volunteer({
    socket: socketTo(nodeUrl), examples, backend: 'wasm', userAgent: 'vitest', seed, onEvent,
    loadModel: async () => { const m = await downloadClientModel(base, { dtype: 'F32' }); return { config: m.config, weights: toWeights(m.weights) }; },
    ...extra,
  });
  v.start();
  return v;
}

// A volunteer tab given two cluster nodes (?nodes=) fails over when its node goes away: the page
// is served by the coordinator (`serve --redis`, which also serves the model files), its socket
// goes to the first node; that node is closed mid-run and the tab moves to the second, says
// hello there with its identity and trains on as the same client. The status panel names the node.
import { expect, test, type Page } from '@playwright/test';
import { selectNodeBackend } from '@splitlora/backend/node';
import { initGpt2Weights } from '@splitlora/model';
import { ClusterNode, buildApp } from '@splitlora/server';
import type { FastifyInstance } from 'fastify';
import { TestRedis } from '../support/redis';
import { TINY } from '../kit/tiny';
import { webDir } from './web-server';
import type { RecordedEvent } from '../../apps/web/src/test-hook';

const TOKEN = 'failover-token';
let redis: TestRedis;
let app: FastifyInstance;
let base: string;
const nodes: ClusterNode[] = [];
const closed = new Set<ClusterNode>();
const closeNode = async (n: ClusterNode) => {
  // Once only: a second close would unsubscribe from Redis on connections that are already gone.
  if (closed.has(n)) return;
  closed.add(n);
  await n.close();
};

test.beforeAll(async () => {
  await selectNodeBackend('wasm', () => {});
  redis = await TestRedis.start();
  const weights = initGpt2Weights(TINY, 1);
  const model = { id: 'failover-tiny', config: TINY, weights };
  ({ app } = await buildApp({ model, token: TOKEN, webDir, backend: 'wasm', redis: redis.url }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  for (const id of ['node-1', 'node-2']) nodes.push(await ClusterNode.start({ redis: redis.url, port: 0, model, backend: 'wasm', id }));
});

test.afterAll(async () => {
  for (const n of nodes) await closeNode(n).catch(() => {});
  await app?.close();
  await redis?.stop();
});

const hook = (p: Page) => p.evaluate(() => {
  const h = window.__splitlora!;
  return { stats: h.stats, events: h.events as RecordedEvent[], server: document.getElementById('s-node')?.textContent ?? '' };
});

test('a tab fails over to the other node and trains on as the same client', async ({ page }) => {
  test.setTimeout(90_000);
  const [n1, n2] = nodes.map((n) => `http://127.0.0.1:${n.port}`);
  page.on('pageerror', (e) => console.log(`[tab] page error: ${e.message}`));
  await page.goto(`${base}/?sample=1&autostart=1&seed=3&n=12&backend=wasm&nodes=${n1},${n2}&failoverMs=1000`);
  const res = await app.inject({
    method: 'POST', url: '/api/runs', headers: { authorization: `Bearer ${TOKEN}` },
    payload: { interval: 2, rounds: 1000, minClients: 1, batch: 2, seqLen: 24, clientLr: 5e-3, serverLr: 5e-3, wire: 'f32', serverWarmup: 0, stepDeadlineMs: 60_000, lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } },
  });
  expect(res.statusCode).toBe(201);
  const runId = res.json().id as string;
  await expect.poll(async () => (await hook(page)).stats?.aggregations ?? 0, { timeout: 45_000 }).toBeGreaterThanOrEqual(1);
  const before = await hook(page);
  expect(before.stats?.node).toBe(n1);
  expect(before.server).toBe(n1.replace('http://', ''));

  const t0 = Date.now();
  await closeNode(nodes[0]);
  await expect.poll(async () => (await hook(page)).events.some((e) => e.type === 'failover'), { timeout: 20_000 }).toBe(true);
  const movedMs = Date.now() - t0;
  const stepAtMove = (await hook(page)).stats!.step;
  await expect.poll(async () => (await hook(page)).stats!.step, { timeout: 30_000 }).toBeGreaterThan(stepAtMove);
  const trainingMs = Date.now() - t0;
  // Trains on there: two more aggregations, as the same client, the only one the run knows.
  await expect.poll(async () => (await hook(page)).stats?.aggregations ?? 0, { timeout: 30_000 }).toBeGreaterThanOrEqual(before.stats!.aggregations + 2);
  const after = await hook(page);
  console.log(`failover: the tab left the closed node after ${(movedMs / 1000).toFixed(1)} s (failoverMs 1000), stepped again on the other after ${(trainingMs / 1000).toFixed(1)} s; ${after.stats!.aggregations - before.stats!.aggregations} aggregations since`);
  expect(after.events.filter((e) => e.type === 'failover')).toEqual([expect.objectContaining({ from: n1, to: n2 })]);
  expect(after.stats?.node).toBe(n2);
  expect(after.stats?.clientId).toBe(before.stats?.clientId);
  expect(after.server).toBe(`${n2.replace('http://', '')} (1 failover)`);
  expect(after.stats!.step).toBeGreaterThan(before.stats!.step);
  // One client record: the run took it back as itself, not as a second volunteer.
  const run = (await app.inject({ url: `/api/runs/${runId}` })).json() as { clientList: { id: string; connected: boolean }[] };
  expect(run.clientList.map((c) => [c.id, c.connected])).toEqual([[before.stats!.clientId, true]]);
  await app.inject({ method: 'POST', url: `/api/runs/${runId}/stop`, headers: { authorization: `Bearer ${TOKEN}` } });
});

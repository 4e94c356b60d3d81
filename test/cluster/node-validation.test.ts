// A node validates what its sockets send, as the single server does: coded errors come from the
// node itself (schema, order, shapes), and from the coordinator through Redis for what only the
// run can judge (identity). Steps a node computes reach the coordinator's counters.
import { selectNodeBackend } from '@splitlora/backend/node';
import { PROTOCOL_VERSION, type Message } from '@splitlora/protocol';
import { ClusterNode, buildApp } from '@splitlora/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activations, hello, rawClient } from '../support/raw-client';
import { TestRedis } from '../support/redis';
import { TINY, TOKEN, createRun, tinyWeights, waitFor } from '../support/server-harness';

describe('a cluster node checks messages where they arrive', () => {
  let redis: TestRedis;
  let coordinator: Awaited<ReturnType<typeof buildApp>>;
  let node: ClusterNode;
  let nodeUrl: string;
  const model = { id: 'test-tiny', config: TINY, weights: tinyWeights() };

  beforeAll(async () => {
    await selectNodeBackend('wasm', () => {});
    redis = await TestRedis.start();
    coordinator = await buildApp({ model, token: TOKEN, backend: 'wasm', redis: redis.url });
    await coordinator.app.listen({ port: 0, host: '127.0.0.1' });
    node = await ClusterNode.start({ redis: redis.url, port: 0, model, backend: 'wasm', id: 'node-v' });
    nodeUrl = `http://127.0.0.1:${node.port}`;
  }, 60_000);
  afterAll(async () => {
    await node?.close();
    await coordinator?.app.close();
    await redis?.stop();
  });

  it('answers bad messages with coded errors, computes good steps, and the coordinator counts them', async () => {
    const a = rawClient(nodeUrl);
    expect((await a.errorAfter(() => a.socket.emit('launch-missiles', {}))).code).toBe('E_UNKNOWN_TYPE');
    expect((await a.errorAfter(() => a.socket.emit('hello', { v: PROTOCOL_VERSION }))).code).toBe('E_SCHEMA');
    const early = await a.errorAfter(() => a.socket.emit('adapter', { v: PROTOCOL_VERSION, runId: 'r', round: 0, tensors: {}, examples: 1 }));
    expect(early.code).toBe('E_ORDER');

    // Hello before any run: it waits in the coordinator's lobby and is admitted when one starts.
    hello(a.socket);
    const runId = await createRun(coordinator.app, { interval: 2, rounds: 1, minClients: 2, batch: 2, seqLen: 8, wire: 'f32', serverWarmup: 0 });
    const welcome = (await a.next('welcome')) as Message<'welcome'>;
    expect(welcome.runId).toBe(runId);
    // One of two: the run waits, and the node says so itself.
    expect((await a.errorAfter(() => a.socket.emit('activations', activations(welcome, 0)))).code).toBe('E_ORDER');

    // Someone else's identity: refused by the run on the coordinator, sent back through Redis.
    const thief = rawClient(nodeUrl);
    const refused = await thief.errorAfter(() => hello(thief.socket, { clientId: welcome.clientId, resumeToken: 'f'.repeat(32) }));
    expect(refused.code).toBe('E_AUTH');
    thief.socket.disconnect();

    const b = rawClient(nodeUrl);
    hello(b.socket);
    await b.next('welcome');
    await waitFor(() => a.got.some((g) => g.name === 'run-state' && g.msg.state === 'training'), 20_000, 'the run to train');
    const tooLong = activations(welcome, 0, { seqLen: 16, targets: new Int32Array(32), mask: new Float32Array(32).fill(1) });
    expect(['E_SHAPE', 'E_RANGE', 'E_TOO_LARGE']).toContain((await a.errorAfter(() => a.socket.emit('activations', tooLong))).code);

    const n = a.got.length;
    a.socket.emit('activations', activations(welcome, 0));
    const grad = (await a.next('gradient', n)) as Message<'gradient'>;
    expect(Number.isFinite(grad.loss)).toBe(true);
    expect(grad.grad.shape).toEqual([2, 8, TINY.nEmbd]);
    expect(node.replica?.engine.stats.tokens).toBe(16);
    const run = coordinator.manager.runs.get(runId)!;
    await waitFor(() => run.globalStep === 1, 10_000, 'the coordinator to count the node\'s step');
    expect(run.clients.get(welcome.clientId)?.tokens).toBe(16);
    a.socket.disconnect();
    b.socket.disconnect();
  }, 60_000);
});

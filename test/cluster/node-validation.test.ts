// A node validates what its sockets send, as the single server does: coded errors come from the
// node itself (schema, order, shapes), and from the coordinator through Redis for what only the
// run can judge (identity). Steps a node computes reach the coordinator's counters.
import { PROTOCOL_VERSION, type Message } from '@splitlora/protocol';
import { describe, expect, it } from 'vitest';
import { activations, hello, rawClient } from '../support/raw-client';
import { useCluster } from '../support/cluster';
import { TINY } from '../kit/tiny';
import { createRun, waitFor } from '../support/server-harness';

describe('a cluster node checks messages where they arrive', () => {
  const cluster = useCluster(['node-v']);

  it('answers bad messages with coded errors, computes good steps, and the coordinator counts them', async () => {
    const { coordinator, nodes: [node] } = cluster;
    const nodeUrl = `http://127.0.0.1:${node.port}`;
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

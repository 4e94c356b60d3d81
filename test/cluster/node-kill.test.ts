// A node is killed with SIGKILL mid-round. It cannot say that its volunteers left: the coordinator
// notices its heartbeat expire and drops them, so the round closes without them as with any
// dropout. The volunteer, given both nodes' URLs, fails over by itself: socket.io cannot bring the
// dead node back within failoverMs, so the same Volunteer object moves to the other node, says
// hello there with its identity and comes back as itself, taking part again from the next round.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Volunteer, downloadClientModel, type VolunteerEvent, type VolunteerIdentity, type VolunteerOptions } from '@splitlora/client';
import { encodeExamples, partition, syntheticE2E } from '@splitlora/data';
import { toWeights, type TensorRecord } from '@splitlora/model';
import { saveGpt2Dir } from '@splitlora/model/node';
import { msgpackParser, type ClientState } from '@splitlora/protocol';
import type { RunMetric } from '@splitlora/server';
import { io, type Socket } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { useCluster } from '../support/cluster';
import { createRun, socketTo, waitFor } from '../support/server-harness';
import { freePort } from '../support/free-port';
import { CLI_BIN, REPO_ROOT } from '../kit/paths';


describe('cluster: a node is killed mid-round', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'splitlora-node-kill-'));
  let child: ReturnType<typeof spawn> | null = null;
  const cluster = useCluster(['node-b'], () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  });

  it('drops its volunteers, closes the round without them, and they come back as themselves on another node', async () => {
    const { redis, coordinator, base, nodes: [survivor], model } = cluster;
    // The node to kill runs `splitlora node` in its own process, on the same model.
    const modelDir = join(tmp, 'model');
    await saveGpt2Dir(modelDir, model.config, model.weights);
    const port = await freePort();
    child = spawn(process.execPath, [CLI_BIN, 'node', '--redis', redis.url, '--port', String(port), '--model', modelDir, '--backend', 'wasm', '--id', 'node-a'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const killedUrl = `http://127.0.0.1:${port}`;
    const t0 = Date.now();
    while (!(await fetch(`${killedUrl}/api/health`).then((r) => r.ok, () => false))) {
      if (child.exitCode !== null) throw new Error(`node exited early:\n${output}`);
      if (Date.now() - t0 > 40_000) throw new Error(`node did not answer within 40 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const text = syntheticE2E({ n: 32, seed: 13 });
    const data = encodeExamples(text);
    const shards = partition(text, 2, 'iid', 5).map((idx) => idx.slice(0, 10).map((i) => data[i]));
    const events: VolunteerEvent[][] = [[], []];
    const survivorUrl = `http://127.0.0.1:${survivor.port}`;
    let movedAt = 0;
    const volunteer = (c: number, to: Pick<VolunteerOptions, 'socket' | 'nodes'>) => {
      const v = new Volunteer({
        ...to, examples: shards[c], backend: 'wasm', userAgent: 'vitest', seed: c,
        loadModel: async () => { const m = await downloadClientModel(base, { dtype: 'F32' }); return { config: m.config, weights: toWeights(m.weights) }; },
        onEvent: (e) => {
          events[c].push(e);
          if (e.type === 'failover') movedAt = Date.now();
        },
      });
      v.start();
      return v;
    };
    // socket.io's own reconnection (fast here) keeps trying the dead node until failoverMs is up.
    const connect = (url: string) => io(url, { parser: msgpackParser, transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 300 });
    const onKilled = volunteer(0, { nodes: { urls: [killedUrl, survivorUrl], connect, failoverMs: 1000 } });
    // minClients gates only the start: while the other volunteer fails over, the run goes on with
    // this one, and on the tiny model it would finish every round within seconds. So its steps from
    // round `holdFrom` on wait until the other is back, leaving the run rounds to take it in.
    let holdFrom: number | null = null;
    const heldSteps: (() => void)[] = [];
    const steadySocket = socketTo(survivorUrl);
    const emit = steadySocket.emit.bind(steadySocket) as (ev: string, ...args: unknown[]) => Socket;
    steadySocket.emit = ((ev: string, ...args: unknown[]) => {
      if (ev === 'activations' && holdFrom !== null && (args[0] as { round: number }).round >= holdFrom) heldSteps.push(() => emit(ev, ...args));
      else emit(ev, ...args);
      return steadySocket;
    }) as Socket['emit'];
    const steady = volunteer(1, { socket: steadySocket });
    const aggregated = (c: number, round: number) => events[c].some((e) => e.type === 'aggregate' && e.round === round);
    const runId = await createRun(coordinator.app, { interval: 3, rounds: 4, minClients: 2, batch: 2, seqLen: 24, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f32', stepDeadlineMs: 30_000, lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } });
    const run = coordinator.manager.runs.get(runId)!;
    const metrics: RunMetric[] = [];
    run.on('metric', (m: RunMetric) => metrics.push(m));
    await waitFor(() => aggregated(0, 0) && aggregated(1, 0), 60_000, 'round 0 to reach both volunteers');

    const identity = (events[0].find((e) => e.type === 'identity') as { identity: VolunteerIdentity }).identity;
    expect(onKilled.stats.node).toBe(killedUrl);
    holdFrom = run.round + 1;
    const killedAt = Date.now();
    child.kill('SIGKILL');
    const seen = events[0].length;
    // The round that was open closes without the dead node's volunteer (well before its 30 s step deadline).
    await waitFor(() => metrics.some((m) => m.kind === 'round' && (m.failures as string[]).includes(`${identity.clientId}:disconnect`)), 20_000, 'the round to close without the killed node\'s volunteer');

    // It fails over to the surviving node and is the same client: the run keeps one record for it,
    // whose counters go on from where the last aggregation left them.
    const before = run.clients.get(identity.clientId)!.steps;
    const after = () => events[0].slice(seen);
    await waitFor(() => after().some((e) => e.type === 'identity'), 45_000, 'the volunteer to be welcomed back on the other node').catch((e: Error) => {
      throw new Error(`${e.message}; its events since the kill: ${JSON.stringify(after().filter((x) => x.type === 'log' || x.type === 'failover' || x.type === 'error'))}`);
    });
    const welcomedBackMs = Date.now() - killedAt;
    holdFrom = null;
    for (const send of heldSteps.splice(0)) send();
    const moves = after().filter((e) => e.type === 'failover');
    expect(moves).toEqual([expect.objectContaining({ type: 'failover', from: killedUrl, to: survivorUrl })]);
    expect(onKilled.stats.node).toBe(survivorUrl);
    expect(onKilled.stats.clientId).toBe(identity.clientId);
    expect(after().filter((e) => e.type === 'identity').map((e) => (e as { identity: VolunteerIdentity }).identity.clientId)).toEqual([identity.clientId]);
    // A welcome that comes before the round closes hands back the state this volunteer uploaded for
    // the last aggregation; after it closes, the run holds none (it dropped it with the round) and
    // the volunteer keeps its own. Either way it is its own state, never a fresh one.
    const uploads = events[0].slice(0, seen).filter((e) => e.type === 'uploaded') as { round: number; state: ClientState }[];
    const restored = after().find((e) => e.type === 'restored') as { state: ClientState } | undefined;
    if (restored) expect(uploads.map((u) => u.state)).toContainEqual(restored.state);
    console.log(`node-kill: moved to the other node ${((movedAt - killedAt) / 1000).toFixed(1)} s after the SIGKILL (failoverMs 1000), welcomed back there after ${(welcomedBackMs / 1000).toFixed(1)} s`);
    expect(run.clients.size).toBe(2);
    expect(run.clients.get(identity.clientId)!.connected).toBe(true);
    await waitFor(() => run.state === 'finished', 60_000, 'the run to finish');
    expect(run.round).toBe(4);
    await waitFor(() => aggregated(0, 3) && aggregated(1, 3), 10_000, 'the last aggregate to reach both volunteers');
    // Back in the training: the last round aggregated both volunteers again.
    expect(metrics.filter((m) => m.kind === 'round').at(-1)!.participants).toBe(2);
    expect(run.clients.get(identity.clientId)!.steps).toBeGreaterThan(before);
    // Its own training counters went on from before the kill (a new client would start at step 0).
    const laterUpload = after().find((e) => e.type === 'uploaded') as { state: ClientState };
    expect(laterUpload.state.step).toBeGreaterThan(uploads.at(-1)!.state.step);
    expect(laterUpload.state.dataOrder.fingerprint).toBe(uploads.at(-1)!.state.dataOrder.fingerprint);
    const held = (await Promise.all([onKilled.adapter(), steady.adapter()])) as TensorRecord[];
    for (const [k, t] of Object.entries(held[0])) for (let j = 0; j < t.data.length; j++) expect(Math.abs(t.data[j] - held[1][k].data[j])).toBeLessThan(1e-6);
    onKilled.stop();
    steady.stop();
  }, 150_000);
});

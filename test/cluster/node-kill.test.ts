// A node is killed with SIGKILL mid-round. It cannot say that its volunteers left: the coordinator
// notices its heartbeat expire and drops them, so the round closes without them as with any
// dropout. The volunteer then connects to the other node with its identity (what a volunteer that
// fails over does) and comes back as itself, taking part again from the next round.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Volunteer, downloadClientModel, type VolunteerEvent, type VolunteerIdentity } from '@splitlora/client';
import { encodeExamples, partition, syntheticE2E } from '@splitlora/data';
import { toWeights, type TensorRecord } from '@splitlora/model';
import { saveGpt2Dir } from '@splitlora/model/node';
import type { RunMetric } from '@splitlora/server';
import { describe, expect, it } from 'vitest';
import { useCluster } from '../support/cluster';
import { createRun, socketTo, waitFor } from '../support/server-harness';
import { freePort } from '../support/free-port';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

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
    child = spawn(process.execPath, ['bin/splitlora.mjs', 'node', '--redis', redis.url, '--port', String(port), '--model', modelDir, '--backend', 'wasm', '--id', 'node-a'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
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
    const events: VolunteerEvent[][] = [[], [], []];
    const volunteer = (c: number, url: string, shard: number, identity: VolunteerIdentity | null = null) => {
      const v = new Volunteer({
        socket: socketTo(url), examples: shards[shard], backend: 'wasm', userAgent: 'vitest', seed: shard, identity,
        loadModel: async () => { const m = await downloadClientModel(base, { dtype: 'F32' }); return { config: m.config, weights: toWeights(m.weights) }; },
        onEvent: (e) => events[c].push(e),
      });
      v.start();
      return v;
    };
    const onKilled = volunteer(0, killedUrl, 0);
    const steady = volunteer(1, `http://127.0.0.1:${survivor.port}`, 1);
    const aggregated = (c: number, round: number) => events[c].some((e) => e.type === 'aggregate' && e.round === round);
    const runId = await createRun(coordinator.app, { interval: 3, rounds: 4, minClients: 2, batch: 2, seqLen: 24, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f32', stepDeadlineMs: 30_000, lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } });
    const run = coordinator.manager.runs.get(runId)!;
    const metrics: RunMetric[] = [];
    run.on('metric', (m: RunMetric) => metrics.push(m));
    await waitFor(() => aggregated(0, 0) && aggregated(1, 0), 60_000, 'round 0 to reach both volunteers');

    child.kill('SIGKILL');
    onKilled.stop();
    const identity = (events[0].find((e) => e.type === 'identity') as { identity: VolunteerIdentity }).identity;
    // The round that was open closes without the dead node's volunteer (well before its 30 s step deadline).
    await waitFor(() => metrics.some((m) => m.kind === 'round' && (m.failures as string[]).includes(`${identity.clientId}:disconnect`)), 20_000, 'the round to close without the killed node\'s volunteer');

    // It fails over to the surviving node and is the same client: the run keeps one record for it,
    // whose counters go on from where the last aggregation left them.
    const before = run.clients.get(identity.clientId)!.steps;
    const back = volunteer(2, `http://127.0.0.1:${survivor.port}`, 0, identity);
    await waitFor(() => events[2].some((e) => e.type === 'identity'), 20_000, 'the volunteer to be welcomed back');
    expect(back.stats.clientId).toBe(identity.clientId);
    expect(run.clients.size).toBe(2);
    expect(run.clients.get(identity.clientId)!.connected).toBe(true);
    await waitFor(() => run.state === 'finished', 60_000, 'the run to finish');
    expect(run.round).toBe(4);
    await waitFor(() => aggregated(2, 3) && aggregated(1, 3), 10_000, 'the last aggregate to reach both volunteers');
    // Back in the training: the last round aggregated both volunteers again.
    expect(metrics.filter((m) => m.kind === 'round').at(-1)!.participants).toBe(2);
    expect(run.clients.get(identity.clientId)!.steps).toBeGreaterThan(before);
    const held = (await Promise.all([back.adapter(), steady.adapter()])) as TensorRecord[];
    for (const [k, t] of Object.entries(held[0])) for (let j = 0; j < t.data.length; j++) expect(Math.abs(t.data[j] - held[1][k].data[j])).toBeLessThan(1e-6);
    back.stop();
    steady.stop();
  }, 120_000);
});

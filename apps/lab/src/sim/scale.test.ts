// bench-scale's runner at tiny size: a coordinator and one `splitlora node` child process over a
// real redis-server, two volunteers here, three rounds (one measured); and the /proc and INFO readers it relies on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectNodeBackend } from '@splitlora/backend/node';
import { saveGpt2Dir } from '@splitlora/model/node';
import { RedisServer, parseCommandCalls, parseNetBytes } from '../redis-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processCpuSeconds, runScaleSetup } from './scale';
import { tinyModel } from '../../../../test/kit/tiny';

describe('bench-scale runner', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'splitlora-scale-test-'));
  beforeAll(async () => {
    await selectNodeBackend('wasm', () => {});
    const m = tinyModel();
    await saveGpt2Dir(join(tmp, 'model'), m.config, m.weights);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('reads a process\'s CPU time from /proc as the process itself counts it', async () => {
    let x = 0;
    for (let i = 0; i < 3e7; i++) x += Math.sqrt(i); // some CPU of our own to count
    const own = process.cpuUsage();
    const proc = await processCpuSeconds(process.pid);
    expect(x).toBeGreaterThan(0);
    expect(proc).toBeGreaterThan(0);
    expect(Math.abs(proc - (own.user + own.system) / 1e6)).toBeLessThan(0.1); // /proc counts in 10 ms ticks
  });

  it('reads Redis\'s traffic and command counters, which grow with traffic', async () => {
    expect(parseNetBytes('# Stats\r\ntotal_net_input_bytes:123\r\ntotal_net_output_bytes:4567\r\n')).toEqual({ input: 123, output: 4567 });
    expect(() => parseNetBytes('# Stats\r\n')).toThrow(/total_net_input_bytes/);
    expect(parseCommandCalls('# Commandstats\r\ncmdstat_xadd:calls=3,usec=9\r\ncmdstat_client|list:calls=1,usec=2\r\n')).toEqual({ xadd: 3, 'client|list': 1 });
    const redis = await RedisServer.start();
    try {
      const a = await redis.counters();
      const b = await redis.counters();
      expect(b.input).toBeGreaterThan(a.input); // the INFO requests themselves
      expect(b.output).toBeGreaterThan(a.output);
      expect(b.calls.info).toBeGreaterThan(a.calls.info);
    } finally {
      await redis.stop();
    }
  });

  it('measures a coordinator + 1 node run over its measured round', async () => {
    const m = await runScaleSetup(1, {
      modelDir: join(tmp, 'model'), volunteers: 2, steps: 3, rounds: 3, batch: 2, seqLen: 32, cut: 1, wire: 'f32', seed: 0, setups: [1], stallMs: 60_000,
    });
    expect(m.cut).toBe(1);
    expect(m.volunteersPerNode).toEqual([2]);
    expect(m.steadySteps).toBe(2); // round 1: one step per volunteer
    expect(m.stepMs).toHaveLength(2);
    expect(m.roundMs).toHaveLength(1);
    expect(m.roundMs[0]).toBeGreaterThan(0);
    expect(m.steadyTokens).toBeGreaterThan(0);
    expect(m.steadyTokens).toBeLessThanOrEqual(2 * 2 * 32);
    // Uploads and aggregates went through Redis in that round.
    expect(m.redisBytes!.input).toBeGreaterThan(0);
    expect(m.redisBytes!.output).toBeGreaterThan(0);
    // Which commands fall inside the window depends on when its edges are sampled while the run
    // goes on (on a loaded CI machine, none of a kind at times); the bytes above are the check.
    expect(m.cpuSeconds.nodes).toHaveLength(1);
    expect(m.cpuSeconds.nodes[0]).toBeGreaterThan(0); // the node computed the server steps
    expect(m.cpuSeconds.coordinator).toBeGreaterThanOrEqual(0);
    expect(m.cpuSeconds.redis).toBeGreaterThanOrEqual(0);
  }, 120_000);
});

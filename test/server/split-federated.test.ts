// The whole system in one process: the real server (Fastify + socket.io + msgpack) on loopback,
// three volunteers running the real client loop over socket.io-client.
import { selectNodeBackend } from '@splitlora/backend/node';
import { Volunteer, downloadClientModel, type VolunteerEvent } from '@splitlora/client';
import { encodeExamples, syntheticE2E, partition } from '@splitlora/data';
import { initGpt2Weights, toWeights, type GPT2Config } from '@splitlora/model';
import { msgpackParser } from '@splitlora/protocol';
import { buildApp } from '@splitlora/server';
import type { FastifyInstance } from 'fastify';
import { io as connect } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const config: GPT2Config = { vocabSize: 50257, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
const TOKEN = 'test-token';

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('split-federated training over real sockets', () => {
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    await selectNodeBackend('wasm', () => {});
    const weights = initGpt2Weights(config, 1);
    weights['wte.weight'].data = weights['wte.weight'].data.map((x) => x * 25); // let LoRA move the logits
    ({ app } = await buildApp({ model: { id: 'test-tiny', config, weights }, token: TOKEN }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(async () => { await app?.close(); });

  it('three clients train, aggregate twice to the example-weighted mean, and the loss falls', async () => {
    const text = syntheticE2E({ n: 60, seed: 3 });
    const data = encodeExamples(text);
    const shards = partition(text, 3, 'iid', 1).map((idx, c) => idx.slice(0, 12 + 6 * c).map((i) => data[i])); // unequal shards: 12, 18, 24
    const uploads: { round: number; adapter: Record<string, { shape: number[]; data: Float32Array }>; examples: number }[] = [];
    const aggregates: { client: number; round: number }[] = [];
    const losses: number[][] = [[], [], []];
    const volunteers = shards.map((examples, c) => {
      const socket = connect(base, { parser: msgpackParser, transports: ['websocket'] });
      const v = new Volunteer({
        socket, examples, backend: 'wasm', userAgent: 'vitest', seed: c,
        loadModel: async () => { const m = await downloadClientModel(base); return { config: m.config, weights: toWeights(m.weights) }; },
        onEvent: (e: VolunteerEvent) => {
          if (e.type === 'uploaded') uploads.push({ round: e.round, adapter: e.adapter, examples: e.examples });
          if (e.type === 'aggregate') aggregates.push({ client: c, round: e.round });
          if (e.type === 'step') losses[c].push(e.loss);
        },
      });
      v.start();
      return v;
    });

    const res = await app.inject({ method: 'POST', url: '/api/runs', headers: { authorization: `Bearer ${TOKEN}` }, payload: { interval: 4, rounds: 2, minClients: 3, batch: 4, seqLen: 48, clientLr: 5e-3, serverLr: 5e-3, serverWarmup: 0, wire: 'f32', lora: { r: 4, alpha: 8, dropout: 0, targets: ['q', 'v', 'mlp.c_fc'] } } });
    expect(res.statusCode).toBe(201);
    const runId = res.json().id as string;
    await waitFor(() => aggregates.length === 6, 120_000, 'two aggregations on three clients');

    for (const round of [0, 1]) {
      const sent = uploads.filter((u) => u.round === round);
      expect(sent).toHaveLength(3);
      const total = sent.reduce((s, u) => s + u.examples, 0);
      const held = await Promise.all(volunteers.map((v) => v.adapter()));
      if (round === 1) {
        // After the last aggregation every client holds the weighted mean of what was sent.
        for (const [name, t] of Object.entries(sent[0].adapter)) {
          const mean = t.data.map((_, j) => sent.reduce((s, u) => s + u.adapter[name].data[j] * u.examples, 0) / total);
          for (const h of held) {
            const got = h![name].data;
            for (let j = 0; j < mean.length; j++) expect(Math.abs(got[j] - mean[j])).toBeLessThan(1e-6);
          }
        }
      }
    }
    const run = (await app.inject({ url: `/api/runs/${runId}` })).json();
    expect(run.status).toBe('finished');
    expect(run.round).toBe(2);
    for (const l of losses) {
      expect(l).toHaveLength(8);
      expect(l[l.length - 1]).toBeLessThan(l[0]);
    }
    for (const v of volunteers) v.stop();
  });
});

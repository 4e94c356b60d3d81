#!/usr/bin/env node
// `node apps/lab/scripts/compare-replicas.mjs [--rounds R] [--interval I] [--model DIR] [--no-lockstep]`
// The server side across nodes, measured (issue 13): the same run, on the same data and seeds,
//   1. on 1 node (what SplitLoRA does: one server model sees every step),
//   2. on 2 nodes with serverReplicas "averaged" (SplitFed V1: a replica per node, averaged by tokens each round),
//   3. on 2 nodes with serverReplicas "single" (node-a owns the server model; node-b forwards to it).
// Each setup is a real coordinator (`serve --redis`) with in-process nodes over a real redis-server,
// and 4 Node volunteers placed round-robin over the nodes. By default the volunteers' steps go in a
// fixed order (lockstep: 0, 1, 2, 3, 0, …) so the three setups feed their server models the same
// sequence and differ only in the topology; --no-lockstep lets them race as in production.
// Prints the mean training loss per round, the final held-out loss (the server's own evaluation:
// its synthetic held-out set) and the largest adapter difference from the 1-node run, as JSON last.
import { register } from 'tsx/esm/api';

register();
const { selectNodeBackend } = await import('../../../packages/backend/src/node.ts');
const { encodeExamples, partition, syntheticE2E } = await import('../../../packages/data/src/index.ts');
const { loadGpt2Dir } = await import('../../../packages/model/src/node.ts');
const { toWeights } = await import('../../../packages/model/src/index.ts');
const { Volunteer, downloadClientModel } = await import('../../../packages/client/src/index.ts');
const { msgpackParser } = await import('../../../packages/protocol/src/index.ts');
const { ClusterNode, buildApp } = await import('../../server/src/index.ts');
const { RedisServer } = await import('../src/redis-server.ts');
const { PRETRAINED_DEFAULT_DIR } = await import('../src/model-source.ts');
const { lockstep } = await import('../src/lockstep.ts');
const { io } = await import('socket.io-client');

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const ROUNDS = Number(flag('rounds', 6));
const INTERVAL = Number(flag('interval', 5));
const MODEL_DIR = flag('model', PRETRAINED_DEFAULT_DIR);
const HELDOUT = Number(flag('heldout', 100));
const LOCKSTEP = !args.includes('--no-lockstep');
const VOLUNTEERS = 4;
const TOKEN = 'compare-replicas';
const SETTINGS = {
  interval: INTERVAL, rounds: ROUNDS, minClients: VOLUNTEERS, batch: 4, seqLen: 64, clientLr: 2e-3, serverLr: 2e-3, serverWarmup: 10, wire: 'f32', seed: 1,
};

await selectNodeBackend('wasm', () => {});
const { config, weights } = await loadGpt2Dir(MODEL_DIR);
const model = { id: 'compare-replicas', config, weights };
const text = syntheticE2E({ n: 400, seed: 1 });
const data = encodeExamples(text);
const shards = partition(text, VOLUNTEERS, 'iid', 2).map((idx) => idx.map((i) => data[i]));

const maxDiff = (a, b) => {
  let worst = 0;
  for (const [k, t] of Object.entries(a)) for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i] - b[k].data[i]));
  return worst;
};
const waitFor = async (cond, ms, what) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

async function runSetup(name, nodeIds, serverReplicas) {
  const redis = await RedisServer.start();
  const coordinator = await buildApp({ model, token: TOKEN, backend: 'wasm', redis: redis.url, logger: false });
  await coordinator.app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${coordinator.app.server.address().port}`;
  const nodes = [];
  for (const id of nodeIds) nodes.push(await ClusterNode.start({ redis: redis.url, port: 0, model, backend: 'wasm', id }));
  const t0 = Date.now();
  try {
    const losses = Array.from({ length: ROUNDS }, () => []);
    const errors = [];
    let aggregates = 0;
    const sockets = shards.map((_, c) => io(`http://127.0.0.1:${nodes[c % nodes.length].port}`, { parser: msgpackParser, transports: ['websocket'], reconnection: false }));
    if (LOCKSTEP) lockstep(sockets);
    const volunteers = shards.map((examples, c) => {
      const v = new Volunteer({
        socket: sockets[c], examples, backend: 'wasm', userAgent: 'compare-replicas', seed: c,
        loadModel: async () => { const m = await downloadClientModel(base, { dtype: 'F32' }); return { config: m.config, weights: toWeights(m.weights) }; },
        onEvent: (e) => {
          if (e.type === 'step') losses[Math.floor((e.step - 1) / INTERVAL)]?.push(e.loss);
          if (e.type === 'aggregate' && ++aggregates % VOLUNTEERS === 0) process.stderr.write(`  ${name}: round ${aggregates / VOLUNTEERS - 1} aggregated (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
          if (e.type === 'error') errors.push(`${c}: ${e.code} ${e.message}`);
        },
      });
      v.start();
      return v;
    });
    const res = await coordinator.app.inject({ method: 'POST', url: '/api/runs', headers: { authorization: `Bearer ${TOKEN}` }, payload: { ...SETTINGS, serverReplicas } });
    if (res.statusCode !== 201) throw new Error(`${name}: create run: ${res.statusCode} ${res.body}`);
    const runId = res.json().id;
    await waitFor(() => aggregates === VOLUNTEERS * ROUNDS, 30 * 60_000, `${name}: ${ROUNDS} rounds`);
    const trainSeconds = (Date.now() - t0) / 1000;
    const live = coordinator.manager.runs.get(runId);
    const server = (await coordinator.manager.serverSnapshot(live)).adapter;
    const clients = await Promise.all(volunteers.map((v) => v.adapter()));
    for (const v of volunteers) v.stop();
    // The server's own held-out evaluation (frozen base + the averaged client adapter + the server adapter).
    const ev = await coordinator.app.inject({ method: 'POST', url: `/api/runs/${runId}/evaluate`, headers: { authorization: `Bearer ${TOKEN}` }, payload: { limit: HELDOUT } });
    const evalId = ev.json().evaluationId;
    let result = null;
    const deadline = Date.now() + 10 * 60_000;
    while (result === null) {
      if (Date.now() > deadline) throw new Error(`${name}: the held-out evaluation took over 10 min`);
      const e = (await coordinator.app.inject({ url: `/api/runs/${runId}/evaluations` })).json().evaluations.find((x) => x.id === evalId);
      if (e?.status === 'failed') throw new Error(`${name}: evaluation failed: ${e.error}`);
      if (e?.status === 'done') result = e.result;
      else await new Promise((r) => setTimeout(r, 200));
    }
    const curve = losses.map((l) => l.reduce((a, b) => a + b, 0) / l.length);
    const tokens = nodes.map((n) => ({ node: n.id, serverTokens: n.replica?.engine.stats.tokens ?? 0 }));
    return { name, serverReplicas, nodes: nodeIds.length, curve, heldoutLoss: Number(result.meanNll), trainSeconds, errors, tokens, server, clients };
  } finally {
    for (const n of nodes) await n.close();
    await coordinator.app.close();
    await redis.stop();
  }
}

const setups = [
  ['1 node', ['solo'], 'averaged'],
  ['2 nodes, averaged', ['node-a', 'node-b'], 'averaged'],
  ['2 nodes, single', ['node-a', 'node-b'], 'single'],
];
const results = [];
for (const [name, ids, mode] of setups) {
  process.stderr.write(`running ${name} (${ROUNDS} rounds × ${INTERVAL} steps × ${VOLUNTEERS} volunteers${LOCKSTEP ? ', lockstep' : ''})…\n`);
  results.push(await runSetup(name, ids, mode));
}
const [ref] = results;
const fmt = (x) => x.toFixed(4);
console.log(`model ${MODEL_DIR} (d=${config.nEmbd}, ${config.nLayer} blocks), ${VOLUNTEERS} volunteers, ${ROUNDS} rounds × ${INTERVAL} steps, batch ${SETTINGS.batch}×${SETTINGS.seqLen}, ${LOCKSTEP ? 'lockstep order' : 'free order'}`);
console.log(`| setup | mean training loss per round (${ROUNDS}) | held-out loss | max |Δ| server adapter vs 1 node | max |Δ| client adapter vs 1 node | train s |`);
console.log('|---|---|---|---|---|---|');
for (const r of results) {
  const dServer = maxDiff(ref.server, r.server);
  const dClient = Math.max(...r.clients.map((c, i) => maxDiff(ref.clients[i], c)));
  r.maxDiffServer = dServer;
  r.maxDiffClient = dClient;
  console.log(`| ${r.name} | ${r.curve.map(fmt).join(' ')} | ${fmt(r.heldoutLoss)} | ${dServer.toExponential(2)} | ${dClient.toExponential(2)} | ${r.trainSeconds.toFixed(0)} |`);
}
console.log(JSON.stringify(results.map(({ server, clients, ...r }) => r)));
process.exit(0);

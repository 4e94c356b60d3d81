// The U-shaped split (run setting labels: "client"): the volunteer also holds ln_f and the tied
// head and computes the loss; a step is front → top → top-gradient → front-gradient. Checked here
// over the real server (Fastify + socket.io + msgpack + the compute worker):
// - one client with interval 1 trains exactly like the unsplit model, at two cuts;
// - the frames the client actually writes to its socket hold no target, mask or loss;
// - out-of-order, spoofed and malformed U-shaped messages get coded errors and the run goes on.
import { encodeExamples, makeBatch, syntheticE2E } from '@splitlora/data';
import { FullModel, SPLITLORA_ADAMW, initLora, toWeights, type GPT2Config, type TensorRecord } from '@splitlora/model';
import { Decoder, PROTOCOL_VERSION, encodeTensor, type Message, type Packet } from '@splitlora/protocol';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hello, rawClient } from '../support/raw-client';
import { TINY } from '../kit/tiny';
import { createRun, startServer, startVolunteer, waitFor } from '../support/server-harness';

const DEEP: GPT2Config = { ...TINY, nLayer: 4 };
const examples = encodeExamples(syntheticE2E({ n: 20, seed: 5 }));

/** Records every frame the socket's encoder writes, decoded back with the protocol's own decoder. */
function captureFrames(socket: Socket): Packet[] {
  const frames: Packet[] = [];
  const manager = socket.io as unknown as { encoder: { encode: (p: unknown) => (Uint8Array | string)[] } };
  const encode = manager.encoder.encode.bind(manager.encoder);
  manager.encoder.encode = (packet) => {
    const chunks = encode(packet);
    for (const chunk of chunks) {
      const d = new Decoder();
      d.on('decoded', (p: Packet) => frames.push(p));
      d.add(chunk as never);
    }
    return chunks;
  };
  return frames;
}

/** Every key anywhere in a decoded payload, and every plain number (typed arrays are data, not scanned). */
function walk(v: unknown, keys: Set<string>, numbers: number[], depth = 0): void {
  if (depth > 12 || v === null || typeof v !== 'object') {
    if (typeof v === 'number') numbers.push(v);
    return;
  }
  if (ArrayBuffer.isView(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if (!Array.isArray(v)) keys.add(k);
    walk(x, keys, numbers, depth + 1);
  }
}

describe('U-shaped split (labels "client")', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => { server = await startServer(DEEP); });
  afterAll(async () => { await server?.app.close(); });

  const lora = { r: 4, alpha: 8, dropout: 0, targets: ['q', 'v', 'mlp.c_fc'] as const };
  const lr = 5e-3;

  for (const cut of [1, 3]) {
    it(`cut ${cut}: one client trains exactly like the unsplit model (page loss and every LoRA tensor)`, async () => {
      const steps: { loss: number; indices: number[] }[] = [];
      const v = startVolunteer(server.base, examples, 3, (e) => { if (e.type === 'step') steps.push({ loss: e.loss, indices: e.indices }); });
      const runId = await createRun(server.app, { labels: 'client', cut, interval: 1, rounds: 5, minClients: 1, batch: 3, seqLen: 48, clientLr: lr, serverLr: lr, serverSchedule: 'constant', wire: 'f32', seed: 11, labelSmoothing: 0.1, lora });
      const run = server.manager.runs.get(runId)!;
      await waitFor(() => run.state === 'finished', 60_000, 'the run to finish');
      expect(steps).toHaveLength(5);

      const targets = [...lora.targets];
      const full = new FullModel(DEEP, toWeights(server.weights), { lora: { ...lora, targets }, optimizer: { lr, ...SPLITLORA_ADAMW }, adapter: initLora(DEEP, { ...lora, targets }, 0, DEEP.nLayer, 11) });
      for (const [j, s] of steps.entries()) {
        const b = makeBatch(s.indices.map((i) => examples[i]), { maxLen: 48 });
        const { loss } = await full.step(b, { smoothing: 0.1, dropoutSeed: null });
        expect(Math.abs(loss - s.loss) / loss, `step ${j}`).toBeLessThan(1e-4);
      }
      const want = await full.adapter();
      const got: TensorRecord = { ...(await v.adapter())!, ...(await run.opts.engine.snapshot()).adapter };
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      for (const [name, t] of Object.entries(want)) {
        let maxDiff = 0;
        for (let j = 0; j < t.data.length; j++) maxDiff = Math.max(maxDiff, Math.abs(got[name].data[j] - t.data[j]));
        expect(maxDiff, name).toBeLessThan(1e-4);
      }
      expect(Object.entries(want).some(([k, t]) => k.endsWith('lora_B') && t.data.some((x) => x !== 0))).toBe(true); // training moved B
      // The server saw steps, but no loss: its step metrics say null.
      const serverLosses = server.manager.store.metrics(runId).filter((m) => m.kind === 'step').map((m) => m.loss);
      expect(serverLosses.length).toBe(5);
      expect(serverLosses.every((l) => l === null || l === undefined)).toBe(true);
      v.stop();
      full.dispose();
    });
  }

  it('the frames the client writes hold no targets, mask or loss (and a server-mode run\'s do)', async () => {
    const framesOf = async (labels: 'server' | 'client') => {
      const losses: number[] = [];
      const v = startVolunteer(server.base, examples.slice(0, 8), 4, (e) => { if (e.type === 'step') losses.push(e.loss); });
      const frames = captureFrames((v as unknown as { opts: { socket: Socket } }).opts.socket);
      const runId = await createRun(server.app, { labels, cut: 2, interval: 2, rounds: 2, minClients: 1, batch: 2, seqLen: 40, wire: 'f16', seed: 3, lora });
      await waitFor(() => server.manager.runs.get(runId)!.state === 'finished', 60_000, `the ${labels} run to finish`);
      v.stop();
      return { frames, losses };
    };

    const u = await framesOf('client');
    const events = u.frames.map((f) => (f.data as unknown[])?.[0]);
    expect(events.filter((e) => e === 'front')).toHaveLength(4);
    expect(events.filter((e) => e === 'top-gradient')).toHaveLength(4);
    expect(events.filter((e) => e === 'adapter')).toHaveLength(2);
    expect(events).not.toContain('activations');
    expect(u.losses).toHaveLength(4);
    for (const f of u.frames) {
      const keys = new Set<string>();
      const numbers: number[] = [];
      walk(f.data, keys, numbers);
      for (const banned of ['targets', 'mask', 'loss']) expect(keys.has(banned), `${String(events[u.frames.indexOf(f)])} carries "${banned}"`).toBe(false);
      // Not under another name either: no number in any frame is one of the page's losses.
      for (const l of u.losses) expect(numbers).not.toContain(l);
      for (const [k, x] of Object.entries((f.data as unknown[])?.[1] ?? {})) if (ArrayBuffer.isView(x)) expect(x, k).not.toBeInstanceOf(Int32Array);
    }
    // The same capture on a SplitLoRA run finds the targets and the mask: the check can fail.
    const s = await framesOf('server');
    const sent = s.frames.filter((f) => (f.data as unknown[])?.[0] === 'activations').map((f) => (f.data as [string, Record<string, unknown>])[1]);
    expect(sent).toHaveLength(4);
    for (const m of sent) expect(m.targets).toBeInstanceOf(Int32Array);
  });

  it('out-of-order, spoofed and malformed U-shaped messages get coded errors; the run goes on', async () => {
    const d = DEEP.nEmbd, B = 2, T = 8;
    const acts = (fill: number, shape = [B, T, d]) => encodeTensor({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) }, 'f32');
    const a = rawClient(server.base);
    const b = rawClient(server.base);
    await waitFor(() => a.socket.connected && b.socket.connected, 10_000, 'connect');
    hello(a.socket);
    hello(b.socket);
    const runId = await createRun(server.app, { labels: 'client', cut: 2, interval: 50, rounds: 2, minClients: 2, batch: B, seqLen: 40, wire: 'f32', lora });
    const run = server.manager.runs.get(runId)!;
    const wa = (await a.next('welcome')) as Message<'welcome'>;
    const wb = (await b.next('welcome')) as Message<'welcome'>;
    expect(wa.config.labels).toBe('client');
    await waitFor(() => run.state === 'training', 20_000, 'training');
    const front = (w: Message<'welcome'>, step: number, over: Record<string, unknown> = {}) => ({ v: PROTOCOL_VERSION, runId: w.runId, step, round: w.round, batch: B, seqLen: T, acts: acts(0.1), ...over });
    const topGrad = (w: Message<'welcome'>, step: number, over: Record<string, unknown> = {}) => ({ v: PROTOCOL_VERSION, runId: w.runId, step, grad: acts(1e-3), ...over });

    const cases: [string, () => void, string][] = [
      ['∂h_L with no forward pending', () => a.socket.emit('top-gradient', topGrad(wa, 0)), 'E_ORDER'],
      ['server-mode activations in a U-shaped run', () => a.socket.emit('activations', { ...front(wa, 0), targets: new Int32Array(B * T), mask: new Float32Array(B * T).fill(1) }), 'E_ORDER'],
      ['front with targets (closed schema)', () => a.socket.emit('front', { ...front(wa, 0), targets: new Int32Array(B * T) }), 'E_SCHEMA'],
      ['front of the wrong width', () => a.socket.emit('front', front(wa, 0, { acts: acts(0.1, [B, T, d + 1]) })), 'E_SHAPE'],
      ['NaN front', () => a.socket.emit('front', front(wa, 0, { acts: acts(Number.NaN) })), 'E_NONFINITE'],
      ['front over the batch limit', () => a.socket.emit('front', front(wa, 0, { batch: 64 })), 'E_TOO_LARGE'],
    ];
    for (const [what, send, code] of cases) {
      const err = await a.errorAfter(send);
      expect(err.code, what).toBe(code);
      expect(err.message.length, what).toBeGreaterThan(10);
    }

    // A's step 0 forward goes through and is held for A.
    let n = a.got.length;
    a.socket.emit('front', front(wa, 0));
    const top = (await a.next('top', n)) as Message<'top'>;
    expect(top.top.shape).toEqual([B, T, d]);
    expect(top.step).toBe(0);
    expect((await a.errorAfter(() => a.socket.emit('top-gradient', topGrad(wa, 0, { grad: acts(1e-3, [B, T - 1, d]) })))).code).toBe('E_SHAPE');
    expect((await a.errorAfter(() => a.socket.emit('top-gradient', topGrad(wa, 0, { grad: acts(Number.POSITIVE_INFINITY) })))).code).toBe('E_NONFINITE');
    expect((await a.errorAfter(() => a.socket.emit('top-gradient', topGrad(wa, 7)))).code).toBe('E_ORDER'); // not the pending step
    // B cannot answer A's forward: identities come from the socket, and B has none pending.
    expect((await b.errorAfter(() => b.socket.emit('top-gradient', topGrad(wb, 0)))).code).toBe('E_ORDER');
    // Nor take over A's id.
    const thief = rawClient(server.base);
    await waitFor(() => thief.socket.connected, 10_000, 'connect');
    expect((await thief.errorAfter(() => hello(thief.socket, { clientId: wa.clientId, resumeToken: 'guess' }))).code).toBe('E_AUTH');

    // After all that, A's held forward is intact and its step lands.
    n = a.got.length;
    a.socket.emit('top-gradient', topGrad(wa, 0));
    const fg = (await a.next('front-gradient', n)) as Message<'front-gradient'>;
    expect(fg.grad.shape).toEqual([B, T, d]);
    expect(Array.from(fg.grad.data as Float32Array).some((x) => x !== 0)).toBe(true);
    expect('loss' in fg).toBe(false);
    expect(run.clients.get(wa.clientId)!.steps).toBe(1);
    // The same answer twice is out of order: the server freed the forward when it used it.
    expect((await a.errorAfter(() => a.socket.emit('top-gradient', topGrad(wa, 0)))).code).toBe('E_ORDER');
    // A disconnect frees a held forward: B's forward is dropped, so B (back as a new client) must start over.
    n = b.got.length;
    b.socket.emit('front', front(wb, 0));
    await b.next('top', n);
    expect(run.clients.get(wb.clientId)!.pendingTop?.step).toBe(0);
    b.socket.disconnect();
    await waitFor(() => !run.clients.get(wb.clientId)!.connected, 10_000, 'B to leave');
    expect(run.clients.get(wb.clientId)!.pendingTop ?? null).toBeNull();
    expect(run.active).toBe(true);
    for (const c of [a, thief]) c.socket.disconnect();
    run.stop();
  });
});

// A real server on loopback plus Node volunteers, for the server tests (the tiny model: test/kit/tiny.ts).
import { selectNodeBackend } from '@splitlora/backend/node';
import { Volunteer, WireMeter, downloadClientModel, type VolunteerEvent } from '@splitlora/client';
import type { EncodedExample } from '@splitlora/data';
import { toWeights, type GPT2Config } from '@splitlora/model';
import { buildApp, type EngineChoice } from '@splitlora/server';
import type { FastifyInstance } from 'fastify';
import { io as connect, type Socket } from 'socket.io-client';
import { TINY, tinyWeights } from '../kit/tiny';

export const TOKEN = 'test-token';

export async function startServer(config: GPT2Config = TINY, weights = tinyWeights(config), engine?: EngineChoice) {
  await selectNodeBackend('wasm', () => {});
  const { app, manager } = await buildApp({ model: { id: 'test-tiny', config, weights }, token: TOKEN, backend: 'wasm', engine });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return { app, manager, base, weights };
}

/** A socket whose parser counts its bytes (msgpackParser inside a WireMeter): volunteers report them as Sent / Received. */
export function socketTo(base: string): Socket {
  return connect(base, { parser: new WireMeter().parser, transports: ['websocket'], reconnection: false });
}

export function startVolunteer(base: string, examples: EncodedExample[], seed: number, onEvent: (e: VolunteerEvent) => void = () => {}) {
  const v = new Volunteer({
    socket: socketTo(base), examples, backend: 'wasm', userAgent: 'vitest', seed, onEvent,
    // F32: these tests compare the split model with the unsplit one, whose weights are F32.
    loadModel: async () => { const m = await downloadClientModel(base, { dtype: 'F32' }); return { config: m.config, weights: toWeights(m.weights) }; },
  });
  v.start();
  return v;
}

export async function createRun(app: FastifyInstance, settings: Record<string, unknown>): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/runs', headers: { authorization: `Bearer ${TOKEN}` }, payload: settings });
  if (res.statusCode !== 201) throw new Error(`create run: ${res.statusCode} ${res.body}`);
  return res.json().id as string;
}

export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

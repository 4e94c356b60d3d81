import { ProtocolError, PROTOCOL_VERSION } from '@splitlora/protocol';
import type { GPT2Config } from '@splitlora/model';
import { describe, expect, it, vi } from 'vitest';
import type { ServerEngine } from './engine';
import { Run, type RunRestore } from './run';
import { parseSettings } from './settings';

const config: GPT2Config = { vocabSize: 50257, nPositions: 32, nEmbd: 8, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
const settings = parseSettings({ interval: 2, rounds: 5, minClients: 2, lora: { r: 2, alpha: 4, dropout: 0, targets: ['q'] } });
const hello = (extra: Record<string, unknown> = {}) => ({ v: PROTOCOL_VERSION, backend: 'wasm', userAgent: 'ua', examples: 4, wireFormats: ['f32' as const], ...extra });
const engine = {} as ServerEngine; // hello and lifecycle never reach the engine

function welcomeOf(send: ReturnType<typeof vi.fn>) {
  return send.mock.calls.find((c) => c[0] === 'welcome')![1];
}

describe('Run: who may come back', () => {
  it('treats an id it never issued as a new client, and refuses a known id with the wrong token', () => {
    const run = new Run({ settings, modelId: 'm', config, cut: 1, engine });
    const s1 = vi.fn();
    const a = run.hello(hello({ clientId: 'c-from-another-run', resumeToken: 'x' }), s1);
    expect(a.id).not.toBe('c-from-another-run');
    expect(welcomeOf(s1)).toMatchObject({ clientId: a.id, resumed: false });
    run.disconnect(a);
    expect(() => run.hello(hello({ clientId: a.id, resumeToken: 'wrong' }), vi.fn())).toThrow(ProtocolError);
    const s2 = vi.fn();
    const back = run.hello(hello({ clientId: a.id, resumeToken: a.resumeToken }), s2);
    expect(back).toBe(a);
    expect(welcomeOf(s2)).toMatchObject({ clientId: a.id, resumed: true });
    run.close();
  });

  it('a restored run recognises its clients, starts from the saved average and counters, and waits for minClients', () => {
    const average = { 'h.0.q.lora_A': { shape: [8, 2], data: new Float32Array(16).fill(0.25) }, 'h.0.q.lora_B': { shape: [2, 8], data: new Float32Array(16).fill(-0.5) } };
    const known = { id: 'c-1', resumeToken: 'tok-1', backend: 'webgpu', userAgent: 'ua', examples: 4, steps: 6, tokens: 96, tokensPerSec: null, bytesUp: 1, bytesDown: 2, lastLoss: 3, firstSeen: 1, lastSeen: 2 };
    const moments = { 'h.0.q.lora_A': { shape: [8, 2], data: new Float32Array(16).fill(1e-3) }, 'h.0.q.lora_B': { shape: [2, 8], data: new Float32Array(16).fill(2e-3) } };
    const saved = { step: 6, optimizer: { step: 6, m: moments, v: moments }, dataOrder: { epoch: 1, cursor: 2, seed: 9, examples: 4, fingerprint: '4-00000000' } };
    // Only c-1 took part in the checkpointed round.
    const restore: RunRestore = { createdAt: 5, round: 3, globalStep: 12, average, paused: true, clients: [known, { ...known, id: 'c-2', resumeToken: 'tok-2' }], clientStates: { 'c-1': saved } };
    const run = new Run({ id: 'run-r', settings, modelId: 'm', config, cut: 1, engine, restore });
    expect([run.state, run.round, run.globalStep, run.createdAt]).toEqual(['paused', 3, 12, 5]);
    expect(run.connected()).toEqual([]);
    const send = vi.fn();
    const c1 = run.hello(hello({ clientId: 'c-1', resumeToken: 'tok-1' }), send);
    expect(c1.steps).toBe(6);
    const w = welcomeOf(send);
    expect(w).toMatchObject({ clientId: 'c-1', resumed: true, runId: 'run-r', round: 3 });
    expect(Array.from(w.adapter.tensors['h.0.q.lora_B'].data)).toEqual(Array(16).fill(-0.5));
    expect(w.state).toBe(saved); // its own training state from the checkpoint
    run.resume(); // paused between rounds → waiting, and one client is not the two it needs
    expect(run.state).toBe('waiting');
    const send2 = vi.fn();
    run.hello(hello({ clientId: 'c-2', resumeToken: 'tok-2' }), send2);
    expect(welcomeOf(send2).state).toBeUndefined(); // nothing saved for it: it keeps its own
    const send3 = vi.fn();
    run.hello(hello(), send3);
    expect(welcomeOf(send3).state).toBeUndefined(); // a new client has no saved state
    expect(run.state).toBe('training');
    expect(run.round).toBe(3);
    run.close();
  });
});

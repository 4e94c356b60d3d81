// The operator API refuses what it must not act on: every number in the run settings has both
// bounds (a 400 that names the field), and evaluation data comes only from the data root, never
// from an absolute path, a ".." walk or a symlink out of it.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectNodeBackend } from '@splitlora/backend/node';
import { RunSettingsSchema, buildApp } from '@splitlora/server';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY, tinyWeights } from '../kit/tiny';
import { TOKEN } from '../support/server-harness';

const auth = { authorization: `Bearer ${TOKEN}` };
const small = { interval: 2, rounds: 1, minClients: 1, batch: 2, seqLen: 40, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } };

/** Every numeric field of the settings schema, as a path ("lora.alpha"). */
function numericFields(schema: { properties?: Record<string, { type?: string; properties?: unknown }> }, prefix = ''): string[] {
  return Object.entries(schema.properties ?? {}).flatMap(([k, s]) => {
    if (s.type === 'number' || s.type === 'integer') return [prefix + k];
    if (s.type === 'object') return numericFields(s as never, `${prefix}${k}.`);
    return [];
  });
}

function withField(path: string, value: number): Record<string, unknown> {
  const [head, tail] = path.split('.');
  return tail ? { ...small, [head]: { ...(small as unknown as Record<string, object>)[head], [tail]: value } } : { ...small, [head]: value };
}

async function start(opts: { dataDir?: string; dataRoot?: string }): Promise<FastifyInstance> {
  await selectNodeBackend('wasm', () => {});
  const { app } = await buildApp({ model: { id: 'test-tiny', config: TINY, weights: tinyWeights() }, token: TOKEN, backend: 'wasm', ...opts });
  return app;
}

describe('run settings bounds', () => {
  let app: FastifyInstance;
  beforeAll(async () => { app = await start({}); });
  afterAll(async () => { await app?.close(); });

  const fields = numericFields(RunSettingsSchema as never);

  it('finds the numeric settings it checks', () => {
    expect(fields).toEqual(expect.arrayContaining(['clientLr', 'serverLr', 'lora.alpha', 'lora.r', 'rounds', 'interval', 'seed', 'stepDeadlineMs', 'actNoise']));
  });

  it.each([1e308, -1e308])('answers %d in any numeric field with a 400 that names the field, and creates no run', async (value) => {
    for (const field of fields) {
      const res = await app.inject({ method: 'POST', url: '/api/runs', headers: auth, payload: withField(field, value) });
      expect(res.statusCode, field).toBe(400);
      expect(res.json().message, field).toContain(field.split('.').pop());
    }
    expect((await app.inject({ url: '/api/runs' })).json().runs).toEqual([]);
  });
});

describe('evaluation data comes from the data root only', () => {
  const top = mkdtempSync(join(tmpdir(), 'splitlora-root-'));
  const dataDir = join(top, 'data');
  const outside = join(top, 'secret.txt');
  let app: FastifyInstance;
  let runId: string;

  beforeAll(async () => {
    mkdirSync(join(dataDir, 'e2e'), { recursive: true });
    const lines = Array.from({ length: 6 }, (_, i) => `name : Place${i} | area : city centre || Place${i} is in the city centre .`);
    writeFileSync(join(dataDir, 'e2e', 'held.txt'), lines.join('\n') + '\n');
    writeFileSync(outside, 'name : Secret | food : French || not for the server .\n');
    symlinkSync(outside, join(dataDir, 'e2e', 'link.txt'));
    app = await start({ dataDir });
    const res = await app.inject({ method: 'POST', url: '/api/runs', headers: auth, payload: small });
    expect(res.statusCode).toBe(201);
    runId = res.json().id;
  });
  afterAll(async () => {
    await app?.close();
    rmSync(top, { recursive: true, force: true });
  });

  const evaluate = (data: string) => app.inject({ method: 'POST', url: `/api/runs/${runId}/evaluate`, headers: auth, payload: { data, limit: 4 } });

  it.each([
    ['an absolute path outside', () => outside, /outside the data root/],
    ['/etc/passwd', () => '/etc/passwd', /outside the data root/],
    ['a ".." walk', () => '../../../../etc/passwd', /outside the data root/],
    ['a symlink inside the root', () => 'e2e/link.txt', /symlink/],
    ['a missing file', () => 'e2e/none.txt', /does not exist/],
  ])('refuses %s with a 400 E_DATA_PATH', async (_what, path, message) => {
    const res = await evaluate(path());
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'E_DATA_PATH', message: expect.stringMatching(message) });
    expect((await app.inject({ url: `/api/runs/${runId}/evaluations` })).json().evaluations).toEqual([]);
  });

  it('refuses a run whose evalData leaves the root', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/runs', headers: auth, payload: { ...small, evalData: '/etc/shadow' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('E_DATA_PATH');
  });

  it('scores a file inside the root, by relative or absolute path', async () => {
    for (const data of ['e2e/held.txt', join(dataDir, 'e2e', 'held.txt')]) {
      const res = await evaluate(data);
      expect(res.statusCode).toBe(202);
      const id = res.json().evaluationId as string;
      let ev: { status: string; result?: { examples: number }; error?: string } = { status: 'queued' };
      while (ev.status !== 'done' && ev.status !== 'failed') {
        await new Promise((r) => setTimeout(r, 100));
        ev = (await app.inject({ url: `/api/runs/${runId}/evaluations` })).json().evaluations.find((e: { id: string }) => e.id === id);
      }
      expect(ev.error).toBeUndefined();
      expect(ev.result!.examples).toBe(4);
    }
  });
});

describe('a server with no data root', () => {
  let app: FastifyInstance;
  beforeAll(async () => { app = await start({}); });
  afterAll(async () => { await app?.close(); });

  it('reads no data file, and says how to give it a root', async () => {
    const created = await app.inject({ method: 'POST', url: '/api/runs', headers: auth, payload: small });
    const res = await app.inject({ method: 'POST', url: `/api/runs/${created.json().id}/evaluate`, headers: auth, payload: { data: '/etc/hostname' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'E_DATA_PATH', message: expect.stringContaining('--data-root') });
  });
});

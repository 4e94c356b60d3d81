// The resumable download against small loopback HTTP servers that misbehave on purpose:
// connections cut mid-body, Range ignored, a wrong Content-Range, a wrong hash.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DownloadError, downloadClientModel, fetchResumable } from './model-download';
import { configToHf, initGpt2Weights, writeSafetensors, type GPT2Config } from '@splitlora/model';
import { roundToF16 } from '@splitlora/model/float16';

type Handler = (req: IncomingMessage, res: ServerResponse, nth: number) => void;

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(handler: Handler): Promise<{ base: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res, requests.length);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) out[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Answers like the real route: 200 or 206 for `bytes=N-`; `cutAfter(nth)` bytes of body, then a dead socket. */
function rangeServer(file: Uint8Array, cutAfter: (nth: number) => number | null, opts: { honourRange?: boolean; shiftRange?: number } = {}): Handler {
  return (req, res, nth) => {
    const etag = `"${sha(file)}"`;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    if (m && opts.honourRange !== false && req.headers['if-range'] === etag) {
      start = Number(m[1]);
      const shown = start + (opts.shiftRange ?? 0);
      res.writeHead(206, { 'content-range': `bytes ${shown}-${file.length - 1}/${file.length}`, 'content-length': file.length - start, etag });
    } else {
      res.writeHead(200, { 'content-length': file.length, etag });
    }
    const body = file.subarray(start);
    const cut = cutAfter(nth);
    if (cut === null) {
      res.end(Buffer.from(body));
      return;
    }
    res.write(Buffer.from(body.subarray(0, cut)), () => setTimeout(() => res.socket?.destroy(), 20));
  };
}

describe('fetchResumable', () => {
  const file = randomBytes(300_000);

  it('resumes a cut connection with a Range request from the byte where it broke, and yields identical bytes', async () => {
    const { base, requests } = await serve(rangeServer(file, (nth) => (nth === 1 ? 123_457 : null)));
    const retries: number[] = [];
    const progress: number[] = [];
    const got = await fetchResumable(`${base}/f`, { retryDelayMs: 1, onRetry: (_a, loaded) => retries.push(loaded), onProgress: (l) => progress.push(l) });
    expect(got.resumes).toBe(1);
    expect(sha(got.bytes)).toBe(sha(file));
    expect(got.etag).toBe(sha(file));
    expect(requests).toHaveLength(2);
    expect(requests[1].headers.range).toBe(`bytes=${retries[0]}-`);
    expect(requests[1].headers['if-range']).toBe(`"${sha(file)}"`);
    expect(retries[0]).toBe(123_457);
    expect(progress.at(-1)).toBe(file.length);
  });

  it('keeps resuming while each try brings bytes, however many breaks', async () => {
    const { base, requests } = await serve(rangeServer(file, () => 40_000));
    const got = await fetchResumable(`${base}/f`, { retryDelayMs: 1, retries: 2 });
    expect(sha(got.bytes)).toBe(sha(file));
    expect(requests.length).toBe(Math.ceil(file.length / 40_000));
  });

  it('starts over when the server ignores Range (200 instead of 206)', async () => {
    const { base, requests } = await serve(rangeServer(file, (nth) => (nth === 1 ? 100_000 : null), { honourRange: false }));
    const got = await fetchResumable(`${base}/f`, { retryDelayMs: 1 });
    expect(got.resumes).toBe(0);
    expect(sha(got.bytes)).toBe(sha(file));
    expect(requests).toHaveLength(2);
  });

  it('refuses a 206 whose Content-Range does not start at the byte it asked for', async () => {
    const { base } = await serve(rangeServer(file, (nth) => (nth === 1 ? 1000 : null), { shiftRange: 1 }));
    await expect(fetchResumable(`${base}/f`, { retryDelayMs: 1 })).rejects.toThrow(/answered range 1000- with "bytes 1001-/);
  });

  it('gives up after the retries when no try brings a byte', async () => {
    const { base, requests } = await serve((_req, res) => { res.writeHead(503); res.end(); });
    await expect(fetchResumable(`${base}/f`, { retryDelayMs: 1, retries: 3 })).rejects.toThrow(DownloadError);
    expect(requests).toHaveLength(4);
  });

  it('does not retry a 404', async () => {
    const { base, requests } = await serve((_req, res) => { res.writeHead(404); res.end(); });
    await expect(fetchResumable(`${base}/f`, { retryDelayMs: 1 })).rejects.toThrow(/HTTP 404/);
    expect(requests).toHaveLength(1);
  });
});

describe('downloadClientModel', () => {
  const config: GPT2Config = { vocabSize: 50257, nPositions: 16, nEmbd: 8, nLayer: 2, nHead: 2, layerNormEps: 1e-5 };
  const w = initGpt2Weights(config, 3);
  const subset = Object.fromEntries(['wte.weight', 'wpe.weight', 'h.0.ln_1.weight', 'h.0.ln_1.bias', 'h.0.attn.c_attn.weight', 'h.0.attn.c_attn.bias', 'h.0.attn.c_proj.weight', 'h.0.attn.c_proj.bias', 'h.0.ln_2.weight', 'h.0.ln_2.bias', 'h.0.mlp.c_fc.weight', 'h.0.mlp.c_fc.bias', 'h.0.mlp.c_proj.weight', 'h.0.mlp.c_proj.bias'].map((n) => [`transformer.${n}`, w[n]]));
  const file = writeSafetensors(subset, { dtype: 'F16' });

  function modelServer(claimedSha: string, cut: (nth: number) => number | null): Handler {
    const weights = rangeServer(file, cut);
    let fileRequests = 0;
    return (req, res) => {
      const json = (v: unknown) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(v)); };
      if (req.url === '/api/model') json({ modelId: 'm', hash: 'h', config: '/model/h/config.json', weights: '/model/h/client.safetensors', bytes: file.length, dtype: 'F16', sha256: claimedSha });
      else if (req.url === '/model/h/config.json') json({ ...configToHf(config), splitlora_cut: 1 });
      else weights(req, res, ++fileRequests);
    };
  }

  it('loads a file that broke off once, checked against its SHA-256', async () => {
    const { base } = await serve(modelServer(sha(file), (nth) => (nth === 1 ? 5000 : null)));
    const m = await downloadClientModel(base, { retryDelayMs: 1 });
    expect(m.resumes).toBe(1);
    expect(m.verified).toBe(true);
    expect(m.bytes).toBe(file.length);
    for (const [key, t] of Object.entries(subset)) expect(m.weights[key.slice('transformer.'.length)].data).toEqual(roundToF16(t.data));
    expect(Object.keys(m.weights).sort()).toEqual(Object.keys(subset).map((k) => k.slice('transformer.'.length)).sort());
  });

  it('refuses bytes whose SHA-256 is not the one /api/model names', async () => {
    const { base } = await serve(modelServer('0'.repeat(64), () => null));
    await expect(downloadClientModel(base, { retryDelayMs: 1 })).rejects.toThrow(/SHA-256 .* does not match/);
  });
});

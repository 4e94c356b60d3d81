// The client submodel as the real server serves it: F16 by default and exact F32 on request,
// the F16 values equal to the F32 ones rounded to F16 bit for bit; Range requests (206, 416,
// If-Range); and a download whose connection breaks mid-file resumes to identical bytes.
import { createHash } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { downloadClientModel } from '@splitlora/client';
import { clientTensorNames, defaultCut } from '@splitlora/model';
import { f32ToF16 } from '@splitlora/model/float16';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY, tinyWeights } from '../kit/tiny';
import { createRun, startServer } from '../support/server-harness';

/** The value an F16 bit pattern stands for, worked out from IEEE 754 by hand (not by the code under test). */
function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Bit-identical float arrays (toEqual walks 1.6 M elements slowly). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

const settings = { interval: 2, rounds: 5, minClients: 1, batch: 2, seqLen: 40, clientLr: 5e-3, serverLr: 5e-3, wire: 'f32', lora: { r: 2, alpha: 4, dropout: 0, targets: ['q', 'v'] } };

describe('client model files', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let preRun: Awaited<ReturnType<typeof server.app.inject>>;
  let info: { weights: string; weightsF32: string; bytes: number; sha256: string; dtype: string; architecture: Record<string, unknown> };
  const weights = tinyWeights();
  // Values that test rounding: ties, subnormals, F16's largest finite value, a signed zero.
  const edge = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 3e-6, -6e-8, 2 ** -25, 65504, -0, 0.1, 1 / 3];
  weights['wpe.weight'].data.set(edge, 0);

  beforeAll(async () => {
    server = await startServer(TINY, weights);
    preRun = await server.app.inject({ url: '/api/model' });
    await createRun(server.app, settings);
    info = (await server.app.inject({ url: '/api/model' })).json();
  });
  afterAll(async () => { await server?.app.close(); });

  it('serves F16 by default, half the bytes of F32, and up-cast it equals the F32 file rounded to F16, bit for bit', async () => {
    expect(info.dtype).toBe('F16');
    const f16 = await downloadClientModel(server.base);
    const f32 = await downloadClientModel(server.base, { dtype: 'F32' });
    expect(f16.verified && f32.verified).toBe(true);
    expect(f16.bytes).toBe(info.bytes);
    const params = clientTensorNames(TINY, defaultCut(TINY)).reduce((s, n) => s + weights[n].data.length, 0);
    expect(f32.bytes - f16.bytes).toBeGreaterThan(2 * params - 4096); // 2 bytes less per value, up to header size
    expect(Object.keys(f16.weights).sort()).toEqual(Object.keys(f32.weights).sort());
    let checked = 0;
    for (const [name, t32] of Object.entries(f32.weights)) {
      expect(sameBits(t32.data, weights[name].data), `${name}: F32 download is the server's weights`).toBe(true);
      const t16 = f16.weights[name].data;
      for (let i = 0; i < t16.length; i++) {
        const h = f32ToF16(t16[i]);
        if (h !== f32ToF16(t32.data[i])) throw new Error(`${name}[${i}]: F16 file holds ${t16[i]}, F32 file ${t32.data[i]} (f16 bits ${h} vs ${f32ToF16(t32.data[i])})`);
        if (!Object.is(t16[i], Math.fround(f16Value(h)))) throw new Error(`${name}[${i}]: up-cast ${t16[i]} is not the F16 value ${f16Value(h)}`);
        checked++;
      }
    }
    expect(checked).toBe(params);
    expect(Array.from(f16.weights['wpe.weight'].data.subarray(0, edge.length))).toEqual([1, 1 + 4 * 2 ** -11, f16Value(f32ToF16(3e-6)), -(2 ** -24), 0, 65504, -0, f16Value(f32ToF16(0.1)), f16Value(f32ToF16(1 / 3))]);
  });

  it('answers /api/model with the architecture even before a run', async () => {
    expect(preRun.statusCode).toBe(200);
    expect(preRun.json()).toMatchObject({ modelId: 'test-tiny', architecture: info.architecture, files: null });
    expect(preRun.json().weights).toBeUndefined();
    expect(info.architecture).toMatchObject({ n_embd: TINY.nEmbd, vocab_size: TINY.vocabSize, n_positions: TINY.nPositions });
  });

  it('answers Range requests with 206 and the right Content-Range, bad ones with 416', async () => {
    const full = await server.app.inject({ url: info.weights });
    expect(full.statusCode).toBe(200);
    expect(full.headers['accept-ranges']).toBe('bytes');
    const bytes = full.rawPayload;
    const size = bytes.length;
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(info.sha256);
    expect(full.headers.etag).toBe(`"${info.sha256}"`);
    const get = (range: string, extra: Record<string, string> = {}) => server.app.inject({ url: info.weights, headers: { range, ...extra } });

    for (const [range, start, end] of [['bytes=0-99', 0, 99], ['bytes=1000-', 1000, size - 1], ['bytes=-50', size - 50, size - 1], [`bytes=10-${size + 100}`, 10, size - 1], [`bytes=${size - 1}-${size - 1}`, size - 1, size - 1]] as const) {
      const r = await get(range);
      expect(r.statusCode, range).toBe(206);
      expect(r.headers['content-range'], range).toBe(`bytes ${start}-${end}/${size}`);
      expect(Number(r.headers['content-length']), range).toBe(end - start + 1);
      expect(Buffer.compare(r.rawPayload, bytes.subarray(start, end + 1)), range).toBe(0);
    }
    for (const range of [`bytes=${size}-`, `bytes=${size + 5}-${size + 9}`, 'bytes=-0']) {
      const r = await get(range);
      expect(r.statusCode, range).toBe(416);
      expect(r.headers['content-range'], range).toBe(`bytes */${size}`);
    }
    // Ranges a server may ignore: several at once, another unit, a reversed pair.
    for (const range of ['bytes=0-1,5-9', 'items=0-5', 'bytes=9-5', 'garbage']) expect((await get(range)).statusCode, range).toBe(200);
    // If-Range: the version held matches → the range; another version → the whole file again.
    expect((await get('bytes=5-', { 'if-range': `"${info.sha256}"` })).statusCode).toBe(206);
    const stale = await get('bytes=5-', { 'if-range': '"0000"' });
    expect(stale.statusCode).toBe(200);
    expect(stale.rawPayload.length).toBe(size);
    // The F32 file takes ranges too, and bad dtypes are refused.
    const r32 = await server.app.inject({ url: info.weightsF32, headers: { range: 'bytes=8-15' } });
    expect(r32.statusCode).toBe(206);
    expect(r32.headers['content-range']).toMatch(/^bytes 8-15\/\d+$/);
    expect((await server.app.inject({ url: `${info.weights}?dtype=Q4` })).statusCode).toBe(400);
  });

  it('a download whose connection breaks mid-file resumes from that byte and yields identical bytes', async () => {
    // A proxy in front of the real server that cuts the first weights response after `cutAt` bytes.
    const cutAt = 777_777;
    const upstream = new URL(server.base);
    const seen: { range: string | undefined; status: number }[] = [];
    const proxy: Server = createServer((req, res) => {
      const up = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
        const isWeights = req.url!.includes('client.safetensors');
        if (isWeights) seen.push({ range: req.headers.range, status: ur.statusCode! });
        res.writeHead(ur.statusCode!, ur.headers);
        if (!(isWeights && seen.length === 1)) return void ur.pipe(res);
        let sent = 0;
        ur.on('data', (chunk: Buffer) => {
          if (sent >= cutAt) return;
          const part = chunk.subarray(0, cutAt - sent);
          sent += part.length;
          res.write(part);
          if (sent >= cutAt) {
            ur.destroy();
            setTimeout(() => res.socket?.destroy(), 20);
          }
        });
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const retried: number[] = [];
      const viaProxy = await downloadClientModel(base, { retryDelayMs: 10, onRetry: (_n, loaded) => retried.push(loaded) });
      const direct = await downloadClientModel(server.base);
      expect(info.bytes).toBeGreaterThan(cutAt);
      expect(viaProxy.resumes).toBe(1);
      expect(viaProxy.verified).toBe(true);
      expect(retried).toEqual([cutAt]);
      expect(seen).toEqual([{ range: undefined, status: 200 }, { range: `bytes=${cutAt}-`, status: 206 }]);
      for (const [name, t] of Object.entries(direct.weights)) expect(sameBits(viaProxy.weights[name].data, t.data), name).toBe(true);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });
});

describe('client model files of weights F16 cannot hold', () => {
  it('keeps such a tensor in F32 rather than sending Inf', async () => {
    const weights = tinyWeights();
    weights['wpe.weight'].data[3] = 1e6;
    const server = await startServer(TINY, weights);
    try {
      await createRun(server.app, settings);
      const m = await downloadClientModel(server.base);
      expect(sameBits(m.weights['wpe.weight'].data, weights['wpe.weight'].data)).toBe(true);
      expect(m.weights['h.0.ln_1.weight'].data.every(Number.isFinite)).toBe(true);
    } finally {
      await server.app.close();
    }
  });
});

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hubCacheDir, resolveModelSource, type DownloadProgress } from './hub-node';
import { expectCheckpointErrorAsync } from '../../../../test/kit/checkpoint';

const tmp = await mkdtemp(join(tmpdir(), 'splitlora-hub-'));
const weights = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 31 + 7) & 0xff);
const config = new TextEncoder().encode('{"n_layer": 2}');

/** A tiny stand-in for huggingface.co that honours Range (unless told not to). */
let requests: { url: string; range?: string }[] = [];
let honourRange = true;
let server: Server;
let base = '';

function serve(req: IncomingMessage, res: import('node:http').ServerResponse) {
  requests.push({ url: req.url ?? '', range: req.headers.range });
  const m = /^\/org\/tiny\/resolve\/main\/(config\.json|model\.safetensors)$/.exec(req.url ?? '');
  if (!m) {
    res.writeHead(404).end('not found');
    return;
  }
  const body = m[1] === 'config.json' ? config : weights;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range && honourRange) {
    const start = Number(range[1]);
    if (start >= body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    res.writeHead(206, { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'content-length': body.length - start });
    res.end(body.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': body.length });
  res.end(body);
}

beforeAll(async () => {
  server = createServer(serve);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((ok) => server.close(ok));
  await rm(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  requests = [];
  honourRange = true;
});

let n = 0;
/** Byte equality without vitest's slow element-wise diff. */
const expectSameBytes = (a: Uint8Array, b: Uint8Array) => expect(Buffer.compare(a, b)).toBe(0);

const freshCache = () => join(tmp, `cache-${n++}`);

describe('resolveModelSource', () => {
  it('returns an existing directory as is', async () => {
    expect(await resolveModelSource(tmp)).toBe(tmp);
  });

  it('rejects a path that does not exist and names it', async () => {
    await expectCheckpointErrorAsync(resolveModelSource('./no/such/dir'), 'BAD_SOURCE', './no/such/dir');
  });

  it('cache dir: <cacheDir>/<org>--<name>, else $SPLITLORA_CACHE/hub', () => {
    expect(hubCacheDir('org/tiny', '/c')).toBe('/c/org--tiny');
    const old = process.env.SPLITLORA_CACHE;
    process.env.SPLITLORA_CACHE = '/x';
    try {
      expect(hubCacheDir('gpt2')).toBe('/x/hub/gpt2');
    } finally {
      if (old === undefined) delete process.env.SPLITLORA_CACHE;
      else process.env.SPLITLORA_CACHE = old;
    }
  });

  it('downloads both files into the cache, then reuses them without the network', async () => {
    const cacheDir = freshCache();
    const seen: DownloadProgress[] = [];
    const dir = await resolveModelSource('org/tiny', { cacheDir, hubUrl: base, progressBar: false, onProgress: (p) => seen.push(p) });
    expect(dir).toBe(join(cacheDir, 'org--tiny'));
    expectSameBytes(await readFile(join(dir, 'model.safetensors')), weights);
    expect(new Uint8Array(await readFile(join(dir, 'config.json')))).toEqual(config);
    expect(existsSync(join(dir, 'model.safetensors.part'))).toBe(false);
    expect(seen.at(-1)).toEqual({ file: 'model.safetensors', received: weights.length, total: weights.length });
    expect(requests.map((r) => r.url)).toEqual(['/org/tiny/resolve/main/config.json', '/org/tiny/resolve/main/model.safetensors']);

    requests = [];
    expect(await resolveModelSource('org/tiny', { cacheDir, hubUrl: base })).toBe(dir);
    expect(requests).toEqual([]);
  });

  it('resumes a partial download with a Range request', async () => {
    const cacheDir = freshCache();
    const dir = join(cacheDir, 'org--tiny');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json'), config);
    await writeFile(join(dir, 'model.safetensors.part'), weights.subarray(0, 40_000));
    await resolveModelSource('org/tiny', { cacheDir, hubUrl: base, progressBar: false });
    expect(requests).toEqual([{ url: '/org/tiny/resolve/main/model.safetensors', range: 'bytes=40000-' }]);
    expectSameBytes(await readFile(join(dir, 'model.safetensors')), weights);
  });

  it('starts over when the server ignores Range, or when the partial file is too long', async () => {
    for (const [partLen, honour] of [[40_000, false], [weights.length + 5, true]] as const) {
      const cacheDir = freshCache();
      const dir = join(cacheDir, 'org--tiny');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'config.json'), config);
      await writeFile(join(dir, 'model.safetensors.part'), new Uint8Array(partLen).fill(9));
      honourRange = honour;
      await resolveModelSource('org/tiny', { cacheDir, hubUrl: base, progressBar: false });
      expectSameBytes(await readFile(join(dir, 'model.safetensors')), weights);
    }
  });

  it('offline: says the model could not be downloaded and where to put which files', async () => {
    const cacheDir = freshCache();
    const p = resolveModelSource('gpt2-medium', { cacheDir, hubUrl: 'http://127.0.0.1:1', progressBar: false });
    await expectCheckpointErrorAsync(p, 'DOWNLOAD_FAILED', 'could not download model "gpt2-medium"', join(cacheDir, 'gpt2-medium'), 'config.json', 'model.safetensors');
  });

  it('a hub error (404) is reported with its status', async () => {
    await expectCheckpointErrorAsync(resolveModelSource('org/missing', { cacheDir: freshCache(), hubUrl: base, progressBar: false }), 'DOWNLOAD_FAILED', 'HTTP 404');
  });

  it('rejects ids that are not hub ids', async () => {
    await expectCheckpointErrorAsync(resolveModelSource('a/b/c'), 'BAD_SOURCE', 'a/b/c');
    await expectCheckpointErrorAsync(resolveModelSource('org/..'), 'BAD_SOURCE');
  });
});

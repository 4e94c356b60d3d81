// Fetches the client submodel (config.json + a safetensors file holding wte, wpe and blocks
// [0, k)) from the server, with progress, through an optional byte cache so that a second visit
// downloads nothing. Works with any fetch (browser or Node 20+).
import { clientTensorNames, configFromHf, loadGpt2FromFiles, type GPT2Config, type TensorRecord } from '@splitlora/model';

export interface ModelInfo {
  modelId: string;
  hash: string;
  config: string;
  weights: string;
  bytes: number;
}

/** Where downloaded files are kept between visits (Cache Storage in the browser). */
export interface ByteCache {
  get(url: string): Promise<Uint8Array | null>;
  put(url: string, bytes: Uint8Array): Promise<void>;
}

export interface DownloadedModel {
  info: ModelInfo;
  config: GPT2Config;
  cut: number;
  weights: TensorRecord;
  fromCache: boolean;
}

async function fetchBytes(url: string, onProgress?: (loaded: number, total: number) => void): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`download of ${url} failed: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  const parts: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    onProgress?.(loaded, total || loaded);
  }
  const out = new Uint8Array(loaded);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

export async function downloadClientModel(baseUrl: string, opts: { cache?: ByteCache; onProgress?: (loaded: number, total: number) => void } = {}): Promise<DownloadedModel> {
  const infoRes = await fetch(new URL('/api/model', baseUrl));
  if (!infoRes.ok) throw new Error(`the server has no model to share yet (HTTP ${infoRes.status})`);
  const info = (await infoRes.json()) as ModelInfo;
  const configJson = (await (await fetch(new URL(info.config, baseUrl))).json()) as Record<string, unknown>;
  const url = new URL(info.weights, baseUrl).toString();
  let bytes = opts.cache ? await opts.cache.get(url) : null;
  const fromCache = bytes !== null;
  if (!bytes) {
    bytes = await fetchBytes(url, opts.onProgress);
    await opts.cache?.put(url, bytes);
  } else {
    opts.onProgress?.(bytes.byteLength, bytes.byteLength);
  }
  const config = configFromHf(configJson);
  const cut = Number(configJson['splitlora_cut']);
  if (!Number.isInteger(cut) || cut < 1) throw new Error('the server\'s client config has no valid "splitlora_cut"');
  const names = new Set(clientTensorNames(config, cut));
  const { weights } = loadGpt2FromFiles(configJson, bytes, { include: (n) => names.has(n) });
  return { info, config, cut, weights, fromCache };
}

// Fetches the client submodel (config.json + a safetensors file holding wte, wpe and blocks
// [0, k)) from the server, with progress, through an optional byte cache so that a second visit
// downloads nothing. Works with any fetch (browser or Node 20+).
// The server sends F16 by default (half of F32's bytes); decoding up-casts to F32 exactly.
// A connection that breaks mid-file is resumed with a Range request from the byte where it broke
// (If-Range pins the version), and the finished file is checked against its SHA-256.
import { clientTensorNames, configFromHf, loadGpt2FromFiles, type GPT2Config, type TensorRecord } from '@splitlora/model';

export interface ModelInfo {
  modelId: string;
  /** The whole model's config.json (Hugging Face names); also sent before any run exists. */
  architecture?: Record<string, unknown>;
  hash: string;
  config: string;
  /** URL of the default (F16) file. */
  weights: string;
  bytes: number;
  dtype?: string;
  /** Hex SHA-256 of the default file. */
  sha256?: string;
  /** URL of the exact F32 file. */
  weightsF32?: string;
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
  dtype: 'F16' | 'F32';
  /** Bytes of the weights file. */
  bytes: number;
  /** Times the download resumed after a broken connection. */
  resumes: number;
  /** False only where crypto.subtle is missing (an insecure context): the SHA-256 was not checked. */
  verified: boolean;
}

export type ProgressFn = (loaded: number, total: number) => void;

export interface DownloadOptions {
  cache?: ByteCache;
  onProgress?: ProgressFn;
  /** 'F32' fetches the exact values (twice the bytes); default 'F16'. */
  dtype?: 'F16' | 'F32';
  /** Failed attempts in a row, without a byte of progress, before giving up (default 5). */
  retries?: number;
  /** First wait after a failure; doubles per failure in a row, at most 10 s (default 500 ms). */
  retryDelayMs?: number;
  onRetry?: (attempt: number, loaded: number, error: string) => void;
}

export class DownloadError extends Error {}

export interface FetchedFile {
  bytes: Uint8Array;
  /** Hex SHA-256 the server named (ETag), if any. */
  etag: string | null;
  resumes: number;
}

const MAX_BACKOFF_MS = 10_000;

function parseContentRange(v: string | null): { start: number; end: number; total: number } | null {
  const m = v ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(v.trim()) : null;
  return m ? { start: Number(m[1]), end: Number(m[2]), total: Number(m[3]) } : null;
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/**
 * GETs `url` into memory. When the body breaks off, asks again for `bytes=<received>-` with
 * If-Range: <ETag>; a 206 whose Content-Range starts at that byte continues the file, a 200 (the
 * server ignored the range, or the file changed) starts it over. Gives up after `retries`
 * failures in a row that brought no new bytes.
 */
export async function fetchResumable(url: string, opts: Pick<DownloadOptions, 'onProgress' | 'retries' | 'retryDelayMs' | 'onRetry'> = {}): Promise<FetchedFile> {
  const retries = opts.retries ?? 5;
  const baseDelay = opts.retryDelayMs ?? 500;
  let parts: Uint8Array[] = [];
  let loaded = 0;
  let total: number | null = null;
  let etag: string | null = null;
  let failures = 0;
  let resumes = 0;
  for (;;) {
    const before = loaded;
    try {
      const headers: Record<string, string> = {};
      if (loaded > 0) {
        headers.range = `bytes=${loaded}-`;
        if (etag) headers['if-range'] = etag;
      }
      const res = await fetch(url, { headers });
      if (res.status === 206 && loaded > 0) {
        const cr = parseContentRange(res.headers.get('content-range'));
        if (!cr || cr.start !== loaded || (total !== null && cr.total !== total)) {
          throw new DownloadError(`download of ${url}: the server answered range ${loaded}- with "${res.headers.get('content-range')}"`);
        }
        total = cr.total;
        resumes += 1;
      } else if (res.status === 200) {
        // A fresh start, or a server that does not do ranges: whatever came before is dropped.
        parts = [];
        loaded = 0;
        const len = res.headers.get('content-length');
        total = len !== null ? Number(len) : null;
        etag = res.headers.get('etag');
      } else if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        // 416 included: the server's file no longer matches what we hold, and retrying cannot help.
        throw new DownloadError(`download of ${url} failed: HTTP ${res.status}`);
      } else {
        throw new Error(`HTTP ${res.status}`);
      }
      if (!res.body) throw new DownloadError(`download of ${url}: the response has no body`);
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        loaded += value.byteLength;
        opts.onProgress?.(loaded, total ?? loaded);
      }
      if (total !== null && loaded !== total) throw new Error(`the body ended at byte ${loaded} of ${total}`);
      return { bytes: concat(parts, loaded), etag: etag?.replace(/^(W\/)?"|"$/g, '') ?? null, resumes };
    } catch (e) {
      if (e instanceof DownloadError) throw e;
      failures = loaded > before ? 1 : failures + 1;
      const message = e instanceof Error ? e.message : String(e);
      if (failures > retries) throw new DownloadError(`download of ${url} failed after ${retries} retries at byte ${loaded}${total ? ` of ${total}` : ''}: ${message}`);
      opts.onRetry?.(failures, loaded, message);
      await new Promise((r) => setTimeout(r, Math.min(MAX_BACKOFF_MS, baseDelay * 2 ** (failures - 1))));
    }
  }
}

/** Hex SHA-256, or null where Web Crypto is missing (pages on plain http to a non-local host). */
export async function sha256Hex(bytes: Uint8Array): Promise<string | null> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null;
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The model info, also before a run exists (then only modelId and architecture): for choosing a backend early. */
export async function fetchModelInfo(baseUrl: string): Promise<Partial<ModelInfo>> {
  const res = await fetch(new URL('/api/model', baseUrl));
  if (!res.ok) throw new Error(`GET /api/model: HTTP ${res.status}`);
  return (await res.json()) as Partial<ModelInfo>;
}

export async function downloadClientModel(baseUrl: string, opts: DownloadOptions = {}): Promise<DownloadedModel> {
  const infoRes = await fetch(new URL('/api/model', baseUrl));
  if (!infoRes.ok) throw new Error(`the server has no model to share (HTTP ${infoRes.status})`);
  const info = (await infoRes.json()) as ModelInfo;
  if (!info.weights || !info.config) throw new Error('the server has no model files to share yet: no run has started');
  const configJson = (await (await fetch(new URL(info.config, baseUrl))).json()) as Record<string, unknown>;
  const dtype = opts.dtype ?? 'F16';
  const wantedUrl = dtype === 'F32' ? info.weightsF32 : info.weights;
  if (!wantedUrl) throw new Error(`the server offers no ${dtype} client file`);
  const url = new URL(wantedUrl, baseUrl).toString();
  // The F16 file's hash comes with the info; the F32 one's with the file (its ETag).
  const knownSha = dtype === 'F16' ? info.sha256 ?? null : null;
  let bytes = opts.cache ? await opts.cache.get(url) : null;
  let verified = false;
  if (bytes && knownSha) {
    const sha = await sha256Hex(bytes);
    if (sha !== null && sha !== knownSha) bytes = null; // a damaged cache entry costs a download
    verified = sha !== null;
  }
  const fromCache = bytes !== null;
  let resumes = 0;
  if (!bytes) {
    const got = await fetchResumable(url, opts);
    resumes = got.resumes;
    const want = knownSha ?? got.etag;
    const sha = want ? await sha256Hex(got.bytes) : null;
    if (want && sha !== null && sha !== want) throw new DownloadError(`download of ${url}: SHA-256 ${sha} does not match the server's ${want}`);
    verified = want !== null && sha !== null;
    bytes = got.bytes;
    await opts.cache?.put(url, bytes);
  } else {
    opts.onProgress?.(bytes.byteLength, bytes.byteLength);
  }
  const config = configFromHf(configJson);
  const cut = Number(configJson['splitlora_cut']);
  if (!Number.isInteger(cut) || cut < 1) throw new Error('the server\'s client config has no valid "splitlora_cut"');
  // A U-shaped run's file (labels "client") also holds ln_f: this page computes the loss.
  const names = new Set(clientTensorNames(config, cut, { head: configJson['splitlora_head'] === true }));
  const { weights } = loadGpt2FromFiles(configJson, bytes, { include: (n) => names.has(n) });
  return { info, config, cut, weights, fromCache, dtype, bytes: bytes.byteLength, resumes, verified };
}

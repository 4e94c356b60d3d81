// Node: turn a model source ("gpt2", "org/name" or a directory) into a local directory holding
// config.json + model.safetensors, downloading from the Hugging Face hub into a cache if needed.
import cliProgress from 'cli-progress';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { CheckpointError } from './errors';

export const MODEL_FILES = ['config.json', 'model.safetensors'] as const;
export const DEFAULT_HUB_URL = 'https://huggingface.co';

export interface DownloadProgress {
  file: string;
  received: number;
  /** Undefined when the server sends no length. */
  total?: number;
}

export interface ResolveOptions {
  /** Hub cache root; a model lands in <cacheDir>/<org>--<name>. Default $SPLITLORA_CACHE/hub or ~/.cache/splitlora/hub. */
  cacheDir?: string;
  /** Default $HF_ENDPOINT or https://huggingface.co; tests point it at a local server. */
  hubUrl?: string;
  revision?: string;
  onProgress?: (p: DownloadProgress) => void;
  /** cli-progress bar on stderr; default: when stderr is a terminal. */
  progressBar?: boolean;
  /** Give up when no bytes arrive for this long. Default 60 s. */
  idleTimeoutMs?: number;
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

export function hubCacheDir(id: string, cacheDir?: string): string {
  const env = process.env.SPLITLORA_CACHE;
  const root = cacheDir ?? (env ? join(env, 'hub') : join(homedir(), '.cache', 'splitlora', 'hub'));
  return resolve(root, id.replace('/', '--'));
}

export async function resolveModelSource(source: string, opts: ResolveOptions = {}): Promise<string> {
  const st = await stat(source).catch(() => undefined);
  if (st?.isDirectory()) return resolve(source);
  if (st) throw new CheckpointError('BAD_SOURCE', `model source ${resolve(source)} is a file; pass the directory holding config.json and model.safetensors`);
  const looksLikePath = isAbsolute(source) || source.startsWith('.') || source.startsWith('~') || source.includes('\\');
  if (looksLikePath || !HUB_ID.test(source) || source.includes('..')) {
    throw new CheckpointError('BAD_SOURCE', `model source "${source}" is neither an existing directory nor a hub id like "gpt2" or "org/name"`);
  }
  const dir = hubCacheDir(source, opts.cacheDir);
  const missing: string[] = [];
  for (const f of MODEL_FILES) if (!(await stat(join(dir, f)).catch(() => undefined))?.isFile()) missing.push(f);
  if (missing.length === 0) return dir;

  await mkdir(dir, { recursive: true });
  const base = (opts.hubUrl ?? process.env.HF_ENDPOINT ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
  for (const file of missing) {
    const url = `${base}/${source}/resolve/${opts.revision ?? 'main'}/${file}`;
    try {
      await download(url, join(dir, file), file, opts);
    } catch (e) {
      const reason = e instanceof Error ? (e.cause instanceof Error ? `${e.message}: ${e.cause.message}` : e.message) : String(e);
      throw new CheckpointError(
        'DOWNLOAD_FAILED',
        `could not download model "${source}" (${file} from ${url}: ${reason}). ` +
          `If this machine is offline, download ${MODEL_FILES.join(' and ')} from https://huggingface.co/${source} ` +
          `elsewhere and place them in ${dir}, then run again.`,
        { cause: e },
      );
    }
  }
  return dir;
}

/** Streams url into dest.part (resuming with a Range request if one exists), then renames. */
async function download(url: string, dest: string, file: string, opts: ResolveOptions, retried = false): Promise<void> {
  const part = `${dest}.part`;
  const have = (await stat(part).catch(() => undefined))?.size ?? 0;
  const ctrl = new AbortController();
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  let timer = setTimeout(() => ctrl.abort(), idleMs);
  const poke = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctrl.abort(), idleMs);
  };
  try {
    // identity: a gzipped body would make Content-Length disagree with the bytes we count.
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (have > 0) headers.range = `bytes=${have}-`;
    const res = await fetch(url, { headers, signal: ctrl.signal, redirect: 'follow' });
    if (res.status === 416 && have > 0 && !retried) {
      // Our partial file is not a prefix the server recognises: start over once.
      await res.body?.cancel();
      await rm(part, { force: true });
      return await download(url, dest, file, opts, true);
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
    // 206 means the server honoured our Range; 200 means it sent the whole file again.
    const resumed = res.status === 206 && (res.headers.get('content-range') ?? '').startsWith(`bytes ${have}-`);
    if (res.status === 206 && !resumed) throw new Error(`unexpected Content-Range "${res.headers.get('content-range')}"`);
    const offset = resumed ? have : 0;
    const total = expectedTotal(res, offset);
    const bar = makeBar(file, total, offset, opts);
    const fh = await open(part, resumed ? 'a' : 'w');
    let received = offset;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        poke();
        await fh.write(chunk);
        received += chunk.length;
        bar?.update(received, { mb: mb(received) });
        opts.onProgress?.({ file, received, total });
      }
    } finally {
      await fh.close();
      bar?.stop();
    }
    if (total !== undefined && received !== total) throw new Error(`connection closed after ${received} of ${total} bytes`);
    await rename(part, dest);
  } catch (e) {
    if (ctrl.signal.aborted) throw new Error(`no data for ${idleMs / 1000} s`, { cause: e });
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

function expectedTotal(res: Response, offset: number): number | undefined {
  if (res.headers.get('content-encoding')) return undefined;
  const range = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
  if (range) return Number(range[1]);
  const len = res.headers.get('content-length');
  return len === null ? undefined : offset + Number(len);
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

function makeBar(file: string, total: number | undefined, start: number, opts: ResolveOptions) {
  if (total === undefined || !(opts.progressBar ?? process.stderr.isTTY)) return undefined;
  const bar = new cliProgress.SingleBar({
    format: `${file} [{bar}] {percentage}% | {mb}/${mb(total)} MB | ETA {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
  });
  bar.start(total, start, { mb: mb(start) });
  return bar;
}

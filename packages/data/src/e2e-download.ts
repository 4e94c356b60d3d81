// Node: puts the E2E NLG files (e2e-files.ts) into a data directory, by default the cache that
// findE2EData looks in. Each upstream file is downloaded from its pinned commit (Node's fetch),
// resumed with an HTTP Range request when a .part file is left from an earlier try, and checked
// against its checksum before it is renamed into place. Offline, `from` copies the files out of a
// directory that holds them, with the same checks. The two derived files are rebuilt from test.txt.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { E2E_FILES, E2E_TRAIN_FILES, GITHUB_RAW, e2eUrl, type E2EFile } from './e2e-files';
import { parseE2EText } from './loaders';

export type E2EErrorCode = 'E2E_CHECKSUM' | 'E2E_DOWNLOAD' | 'E2E_FROM_MISSING';

export class E2EDataError extends Error {
  constructor(
    readonly code: E2EErrorCode,
    message: string,
    /** For E2E_DOWNLOAD and E2E_FROM_MISSING: what is still missing, and where it goes. */
    readonly missing: { url: string; dest: string }[] = [],
    opts?: { cause?: unknown },
  ) {
    super(message, opts);
    this.name = 'E2EDataError';
  }
}

export interface E2EInstallOptions {
  /** The data directory to fill. */
  dir: string;
  /** Copy from this directory (the layout, or all files side by side) instead of downloading. */
  from?: string;
  /** Also the train split (lora-format/train.txt, official-csv/trainset.csv). */
  train?: boolean;
  /** The files to install; default e2eFileList(train). Tests pass fixtures. */
  files?: readonly E2EFile[];
  /** Default https://raw.githubusercontent.com; tests point it at a local server. */
  baseUrl?: string;
  /** Give up on a download when no bytes arrive for this long. Default 30 s. */
  idleTimeoutMs?: number;
  /** Progress of the current download. */
  onProgress?: (p: { file: string; received: number; total?: number }) => void;
  /** One line per file when it is in place. */
  log?: (line: string) => void;
}

export type E2EAction = 'kept' | 'downloaded' | 'resumed' | 'copied' | 'derived';

export interface E2EInstallResult {
  dir: string;
  files: { path: string; action: E2EAction }[];
}

/** The files installE2E puts in place, upstream ones first. */
export function e2eFileList(train = false): E2EFile[] {
  return [...E2E_FILES, ...(train ? E2E_TRAIN_FILES : [])];
}

/** What to fetch by hand and where each file goes: the offline instructions. */
export function e2eManualList(dir: string, opts: { train?: boolean; baseUrl?: string } = {}): { url: string; dest: string }[] {
  return e2eFileList(opts.train).filter((f) => f.source).map((f) => ({ url: e2eUrl(f, opts.baseUrl), dest: join(dir, f.path) }));
}

/** Problem with these bytes as `file`, or null when they are the right ones. */
export function checkE2EBytes(file: E2EFile, bytes: Uint8Array): string | null {
  if (file.size !== undefined && bytes.length !== file.size) return `expected ${file.size} bytes, got ${bytes.length}`;
  if (file.sha256) {
    const got = createHash('sha256').update(bytes).digest('hex');
    return got === file.sha256 ? null : `SHA-256 ${got}, expected ${file.sha256}`;
  }
  if (file.gitBlob) {
    const got = createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
    return got === file.gitBlob ? null : `git blob id ${got}, expected ${file.gitBlob}`;
  }
  throw new Error(`${file.path} has no checksum`);
}

export async function installE2E(opts: E2EInstallOptions): Promise<E2EInstallResult> {
  const files = opts.files ?? e2eFileList(opts.train);
  const done: E2EInstallResult['files'] = [];
  const note = (path: string, action: E2EAction, extra = '') => {
    done.push({ path, action });
    opts.log?.(`${action.padEnd(10)} ${path}${extra}`);
  };
  const upstream = files.filter((f) => f.source);

  if (opts.from) {
    const absent = upstream.filter((f) => !fromPath(opts.from!, f));
    if (absent.length > 0) {
      const list = absent.map((f) => basename(f.path)).join(', ');
      throw new E2EDataError('E2E_FROM_MISSING', `${opts.from} lacks ${list}; download ${absent.length === 1 ? 'it' : 'them'} from the URLs below into that directory, then run again`,
        absent.map((f) => ({ url: e2eUrl(f, opts.baseUrl), dest: join(opts.from!, basename(f.path)) })));
    }
  }

  for (const [i, f] of upstream.entries()) {
    const dest = join(opts.dir, f.path);
    if (await holdsRightBytes(f, dest)) {
      note(f.path, 'kept');
      continue;
    }
    await mkdir(dirname(dest), { recursive: true });
    if (opts.from) {
      const src = fromPath(opts.from, f)!;
      const bytes = await readFile(src);
      const problem = checkE2EBytes(f, bytes);
      if (problem) throw new E2EDataError('E2E_CHECKSUM', `${src} is not the expected ${f.path} (${problem}); replace it with the file from ${e2eUrl(f, opts.baseUrl)}`);
      await writeAtomic(dest, bytes);
      note(f.path, 'copied', ` (from ${src})`);
      continue;
    }
    const url = e2eUrl(f, opts.baseUrl);
    let resumed: boolean;
    try {
      resumed = await download(url, `${dest}.part`, f, opts);
    } catch (e) {
      if (e instanceof E2EDataError) throw e;
      const reason = describeFetchError(e);
      const left = upstream.slice(i).map((g) => ({ url: e2eUrl(g, opts.baseUrl), dest: join(opts.dir, g.path) }));
      throw new E2EDataError('E2E_DOWNLOAD',
        `could not download ${f.path} from ${url} (${reason}); if this machine is offline, fetch the files below elsewhere and pass their directory with --from DIR, or put each at the path shown`,
        left, { cause: e });
    }
    const bytes = await readFile(`${dest}.part`);
    const problem = checkE2EBytes(f, bytes);
    if (problem) {
      await rm(`${dest}.part`, { force: true });
      throw new E2EDataError('E2E_CHECKSUM', `${url} gave the wrong bytes for ${f.path} (${problem}); the partial file was removed, run again, and if it repeats the upstream file has changed`);
    }
    await rename(`${dest}.part`, dest);
    note(f.path, resumed ? 'resumed' : 'downloaded', ` (${mb(bytes.length)} MB)`);
  }

  const test = join(opts.dir, 'lora-format/test.txt');
  for (const f of files.filter((g) => !g.source)) {
    const dest = join(opts.dir, f.path);
    if (await holdsRightBytes(f, dest)) {
      note(f.path, 'kept');
      continue;
    }
    const bytes = new TextEncoder().encode(deriveFromTest(f.path, await readFile(test, 'utf8')));
    const problem = checkE2EBytes(f, bytes);
    if (problem) throw new E2EDataError('E2E_CHECKSUM', `${f.path} rebuilt from ${test} is not the expected file (${problem}); report this, the derivation no longer matches`);
    await writeAtomic(dest, bytes);
    note(f.path, 'derived', ' (from lora-format/test.txt)');
  }
  return { dir: opts.dir, files: done };
}

/**
 * A derived file from lora-format/test.txt: test_refs_grouped.txt is what SplitLoRA/LoRA's
 * gpt2_decode.py writes as e2e_ref.txt (each MR's refs, then a blank line, MRs in first-appearance
 * order); test_mrs_unique.txt is those MRs, one a line.
 */
export function deriveFromTest(path: string, testTxt: string): string {
  const groups = groupTestRefs(testTxt);
  if (path.endsWith('test_refs_grouped.txt')) return groups.refs.map((g) => g.map((r) => `${r}\n`).join('') + '\n').join('');
  if (path.endsWith('test_mrs_unique.txt')) return groups.mrs.map((m) => `${m}\n`).join('');
  throw new Error(`no rule derives ${path}`);
}

/** Unique MRs in first-appearance order, with all their refs in file order. */
function groupTestRefs(text: string): { mrs: string[]; refs: string[][] } {
  const index = new Map<string, number>();
  const mrs: string[] = [];
  const refs: string[][] = [];
  for (const { context, completion } of parseE2EText(text, 'test.txt').examples) {
    let i = index.get(context);
    if (i === undefined) {
      index.set(context, (i = mrs.length));
      mrs.push(context);
      refs.push([]);
    }
    refs[i].push(completion);
  }
  return { mrs, refs };
}

function fromPath(from: string, f: E2EFile): string | undefined {
  return [join(from, f.path), join(from, basename(f.path))].find((p) => existsSync(p));
}

async function holdsRightBytes(f: E2EFile, path: string): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile() || (f.size !== undefined && st.size !== f.size)) return false;
  return checkE2EBytes(f, await readFile(path)) === null;
}

async function writeAtomic(dest: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  await writeFile(`${dest}.part`, bytes);
  await rename(`${dest}.part`, dest);
}

/**
 * Streams url into part, continuing it with a Range request when it already holds bytes.
 * Returns whether it resumed. Leaves part in place when the connection fails, for the next try.
 */
async function download(url: string, part: string, f: E2EFile, opts: E2EInstallOptions): Promise<boolean> {
  let have = (await stat(part).catch(() => undefined))?.size ?? 0;
  if (f.size !== undefined && have > f.size) {
    await rm(part, { force: true });
    have = 0;
  }
  const ctrl = new AbortController();
  const idleMs = opts.idleTimeoutMs ?? 30_000;
  let timer = setTimeout(() => ctrl.abort(), idleMs);
  const poke = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctrl.abort(), idleMs);
  };
  try {
    // identity: a compressed body would not be the bytes the Range offsets count.
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (have > 0) headers.range = `bytes=${have}-`;
    const res = await fetch(url, { headers, signal: ctrl.signal, redirect: 'follow' });
    if (res.status === 416 && have > 0) {
      // The part is already whole (or is not a prefix the server knows): let the checksum decide.
      await res.body?.cancel();
      return true;
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
    // 206 continues our bytes; 200 is the whole file again.
    const resumed = res.status === 206;
    if (resumed && !(res.headers.get('content-range') ?? '').startsWith(`bytes ${have}-`)) {
      throw new Error(`unexpected Content-Range "${res.headers.get('content-range')}"`);
    }
    const offset = resumed ? have : 0;
    const len = res.headers.get('content-length');
    const total = f.size ?? (len === null ? undefined : offset + Number(len));
    const fh = await open(part, resumed ? 'a' : 'w');
    let received = offset;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        poke();
        await fh.write(chunk);
        received += chunk.length;
        opts.onProgress?.({ file: f.path, received, total });
      }
    } finally {
      await fh.close();
    }
    if (total !== undefined && received < total) throw new Error(`connection closed after ${received} of ${total} bytes`);
    return resumed;
  } catch (e) {
    if (ctrl.signal.aborted) throw new Error(`no data for ${idleMs / 1000} s`, { cause: e });
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** "getaddrinfo ENOTFOUND raw.githubusercontent.com" rather than fetch's bare "fetch failed". */
function describeFetchError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause as { code?: string; message?: string } | undefined;
  if (e.message === 'fetch failed' && cause?.message) return cause.message;
  return e.message;
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

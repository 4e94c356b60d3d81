// Run checkpoints: one safetensors file per aggregation, <dir>/checkpoint-<round>.safetensors.
// Tensors: client/<name> (the federated average of the client adapters), server/<name> (the
// server adapter), optimizer/{m,v}/<name> (the server's AdamW moments) and
// clients/<id>/{m,v}/<name> (each participating client's AdamW moments). Metadata: the counters,
// data orders and step counts as JSON ("state") and a SHA-256 over that JSON and the whole data
// section ("sha256"), so a flipped bit, a truncated file or a half-written header is caught
// before anything is loaded.
//
// Writes are atomic: temp file, fsync, rename, fsync of the directory. A crash leaves either the
// old set of files or the new one, never a half-written checkpoint under the final name.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loraShapes, parseHeader, parseSafetensors, writeSafetensors, type GPT2Config, type LoraConfig, type TensorRecord } from '@splitlora/model';
import type { ClientState } from '@splitlora/protocol';

export const CHECKPOINT_FORMAT = 'splitlora-checkpoint';
export const CHECKPOINT_VERSION = '1';
/** How many checkpoints a run keeps on disk (the newest ones). */
export const KEEP_CHECKPOINTS = 3;

export interface CheckpointState {
  runId: string;
  /** The round whose aggregation this checkpoint follows. */
  round: number;
  /** The run's round counter after it (round + 1): where training continues. */
  nextRound: number;
  globalStep: number;
  /** Per-client counters (client id → steps and tokens so far). */
  clients: Record<string, { steps: number; tokens: number }>;
  /**
   * Server-side data-order state: the engine's step count seeds the server's LoRA dropout masks,
   * so restoring it continues their sequence. (The clients' own data orders are in clientStates.)
   */
  /** forwards: U-shaped runs only, the count of client forwards, which seeds their server dropout masks. */
  engine: { serverSteps: number; tokens: number; forwards?: number };
  at: number;
}

export interface CheckpointData {
  state: CheckpointState;
  /** The averaged client adapter. */
  client: TensorRecord;
  server: TensorRecord;
  /** The server's AdamW state (AdamW.exportState). */
  optimizer: { step: number; m: TensorRecord; v: TensorRecord };
  /** The states that go with the averaged adapter (AdamW, data order, step count), by client id. */
  clientStates: Record<string, ClientState>;
}

/** A client state without its tensors, as kept in the JSON metadata. */
type ClientStateMeta = Omit<ClientState, 'optimizer'> & { optimizerStep: number };

/** A checkpoint that cannot be used; `reason` says why, in words. */
export class CheckpointCorrupt extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`checkpoint ${file} is unusable: ${reason}`);
  }
}

export function checkpointName(round: number): string {
  return `checkpoint-${round}.safetensors`;
}

const NAME = /^checkpoint-(\d+)\.safetensors$/;
const PREFIXES = { client: 'client/', server: 'server/', m: 'optimizer/m/', v: 'optimizer/v/', clients: 'clients/' } as const;
/** clients/<id>/<m|v>/<tensor name> */
const CLIENT_MOMENT = /^clients\/([^/]+)\/([mv])\/(.+)$/;

function digest(stateJson: string, data: Uint8Array): string {
  return createHash('sha256').update(stateJson, 'utf8').update(data).digest('hex');
}

export function encodeCheckpoint(d: CheckpointData): Uint8Array {
  const tensors: TensorRecord = {};
  const put = (prefix: string, rec: TensorRecord) => {
    for (const [k, t] of Object.entries(rec)) tensors[prefix + k] = t;
  };
  put(PREFIXES.client, d.client);
  put(PREFIXES.server, d.server);
  put(PREFIXES.m, d.optimizer.m);
  put(PREFIXES.v, d.optimizer.v);
  const clientStates: Record<string, ClientStateMeta> = {};
  for (const [id, cs] of Object.entries(d.clientStates)) {
    put(`${PREFIXES.clients}${id}/m/`, cs.optimizer.m);
    put(`${PREFIXES.clients}${id}/v/`, cs.optimizer.v);
    clientStates[id] = { step: cs.step, dataOrder: cs.dataOrder, optimizerStep: cs.optimizer.step };
  }
  const state = JSON.stringify({ ...d.state, optimizerStep: d.optimizer.step, clientStates });
  const meta = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, state };
  // The data section does not depend on the metadata: write once to find it, hash, write again.
  const draft = writeSafetensors(tensors, { dtype: 'F32', metadata: meta });
  const data = draft.subarray(parseHeader(draft).dataStart);
  return writeSafetensors(tensors, { dtype: 'F32', metadata: { ...meta, sha256: digest(state, data) } });
}

/** Parses and verifies a checkpoint; throws CheckpointCorrupt naming what is wrong. */
export function decodeCheckpoint(bytes: Uint8Array, file = 'checkpoint'): CheckpointData {
  let parsed: ReturnType<typeof parseSafetensors>;
  let dataStart: number;
  try {
    dataStart = parseHeader(bytes, bytes.length, file).dataStart;
    parsed = parseSafetensors(bytes, { what: file });
  } catch (e) {
    throw new CheckpointCorrupt(file, (e as Error).message);
  }
  const { metadata, tensors } = parsed;
  if (metadata.format !== CHECKPOINT_FORMAT) throw new CheckpointCorrupt(file, `not a ${CHECKPOINT_FORMAT} file (format "${metadata.format ?? ''}")`);
  if (metadata.version !== CHECKPOINT_VERSION) throw new CheckpointCorrupt(file, `version ${metadata.version}, but this server reads version ${CHECKPOINT_VERSION}`);
  if (typeof metadata.state !== 'string' || typeof metadata.sha256 !== 'string') throw new CheckpointCorrupt(file, 'the state or sha256 metadata is missing (half-written?)');
  const got = digest(metadata.state, bytes.subarray(dataStart));
  if (got !== metadata.sha256) throw new CheckpointCorrupt(file, `checksum mismatch (SHA-256 ${got.slice(0, 12)}…, the file says ${metadata.sha256.slice(0, 12)}…): the file was damaged after it was written`);
  const { clientStates: metas = {}, ...state } = JSON.parse(metadata.state) as CheckpointState & { optimizerStep: number; clientStates?: Record<string, ClientStateMeta> };
  const out: CheckpointData = { state, client: {}, server: {}, optimizer: { step: state.optimizerStep, m: {}, v: {} }, clientStates: {} };
  for (const [id, { optimizerStep, ...rest }] of Object.entries(metas)) out.clientStates[id] = { ...rest, optimizer: { step: optimizerStep, m: {}, v: {} } };
  for (const [name, t] of Object.entries(tensors)) {
    const moment = CLIENT_MOMENT.exec(name);
    if (moment) {
      const cs = out.clientStates[moment[1]];
      if (!cs) throw new CheckpointCorrupt(file, `tensor "${name}" belongs to no client state`);
      cs.optimizer[moment[2] as 'm' | 'v'][moment[3]] = t;
    } else if (name.startsWith(PREFIXES.client)) out.client[name.slice(PREFIXES.client.length)] = t;
    else if (name.startsWith(PREFIXES.server)) out.server[name.slice(PREFIXES.server.length)] = t;
    else if (name.startsWith(PREFIXES.m)) out.optimizer.m[name.slice(PREFIXES.m.length)] = t;
    else if (name.startsWith(PREFIXES.v)) out.optimizer.v[name.slice(PREFIXES.v.length)] = t;
    else throw new CheckpointCorrupt(file, `unexpected tensor "${name}"`);
  }
  if (Object.keys(out.client).length === 0 || Object.keys(out.server).length === 0) throw new CheckpointCorrupt(file, 'it holds no client or no server adapter');
  return out;
}

/** Writes bytes to `path` atomically: temp file, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(path: string, bytes: Uint8Array, dir: string): Promise<void> {
  const tmp = join(dir, `.tmp-${randomBytes(6).toString('hex')}-${path.slice(dir.length + 1)}`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  // The rename itself is durable only once the directory entry is on disk. Some platforms
  // (Windows) cannot open a directory for fsync; there the rename is as durable as it gets.
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch (e) {
    if (!['EISDIR', 'EPERM', 'EACCES', 'EINVAL'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  }
}

/** Checkpoints in `dir`, newest (highest round) first. */
export async function listCheckpoints(dir: string): Promise<{ round: number; file: string; path: string }[]> {
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  return names
    .map((file) => ({ file, m: NAME.exec(file) }))
    .filter((x): x is { file: string; m: RegExpExecArray } => x.m !== null)
    .map(({ file, m }) => ({ round: Number(m[1]), file, path: join(dir, file) }))
    .sort((a, b) => b.round - a.round);
}

/** Writes the checkpoint after round `data.state.round` and keeps the newest `keep`. Returns the file name. */
export async function writeCheckpoint(dir: string, data: CheckpointData, keep = KEEP_CHECKPOINTS): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = checkpointName(data.state.round);
  await writeFileAtomic(join(dir, file), encodeCheckpoint(data), dir);
  const all = await listCheckpoints(dir);
  for (const old of all.slice(keep)) await rm(old.path, { force: true });
  // Temp files of writes that a crash interrupted.
  for (const name of await readdir(dir)) if (name.startsWith('.tmp-')) await rm(join(dir, name), { force: true });
  return file;
}

export interface LoadedCheckpoint {
  checkpoint: CheckpointData | null;
  file: string | null;
  /** Newer checkpoints that were skipped, newest first, with why. */
  rejected: { file: string; reason: string }[];
}

/**
 * The newest checkpoint that reads back intact and passes `check` (which throws to reject, e.g.
 * on shapes that do not fit the run). A damaged file is renamed to <name>.corrupt, so it is kept
 * for inspection but never tried again; one that only fails `check` stays as it is.
 */
export async function loadLatestCheckpoint(dir: string, check: (d: CheckpointData) => void = () => {}, opts: { quarantine?: boolean } = {}): Promise<LoadedCheckpoint> {
  const rejected: { file: string; reason: string }[] = [];
  for (const c of await listCheckpoints(dir)) {
    let data: CheckpointData;
    try {
      data = decodeCheckpoint(new Uint8Array(await readFile(c.path)), c.file);
      if (data.state.round !== c.round) throw new CheckpointCorrupt(c.file, `it says round ${data.state.round}, but its name says round ${c.round}`);
    } catch (e) {
      rejected.push({ file: c.file, reason: e instanceof CheckpointCorrupt ? e.reason : (e as Error).message });
      if (e instanceof CheckpointCorrupt && opts.quarantine !== false) await rename(c.path, `${c.path}.corrupt`).catch(() => {});
      continue;
    }
    try {
      check(data);
    } catch (e) {
      rejected.push({ file: c.file, reason: (e as Error).message });
      continue;
    }
    return { checkpoint: data, file: c.file, rejected };
  }
  return { checkpoint: null, file: null, rejected };
}

/** Throws unless the checkpoint's tensors are exactly the adapter and optimizer shapes of a run with this LoRA and cut. */
export function checkCheckpointShapes(d: CheckpointData, config: GPT2Config, lora: LoraConfig, cut: number): void {
  const same = (what: string, rec: TensorRecord, want: Record<string, number[]>, partial = false) => {
    for (const [k, shape] of Object.entries(want)) {
      if (!rec[k]) {
        if (partial) continue;
        throw new Error(`its ${what} lacks "${k}" (saved for other LoRA settings?)`);
      }
      if (rec[k].shape.join() !== shape.join()) throw new Error(`its ${what} "${k}" has shape [${rec[k].shape}], the run needs [${shape}]`);
    }
    for (const k of Object.keys(rec)) if (!(k in want)) throw new Error(`its ${what} has an unexpected tensor "${k}"`);
  };
  const serverShapes = loraShapes(config, lora, cut, config.nLayer);
  const clientShapes = loraShapes(config, lora, 0, cut);
  same('client adapter', d.client, clientShapes);
  same('server adapter', d.server, serverShapes);
  same('optimizer m', d.optimizer.m, serverShapes, true);
  same('optimizer v', d.optimizer.v, serverShapes, true);
  for (const [id, cs] of Object.entries(d.clientStates)) {
    same(`client ${id}'s optimizer m`, cs.optimizer.m, clientShapes);
    same(`client ${id}'s optimizer v`, cs.optimizer.v, clientShapes);
  }
}

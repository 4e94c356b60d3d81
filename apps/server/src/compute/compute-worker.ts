// The main thread's handle on a compute worker (worker.ts): starts it, sends requests and matches
// replies, and notices when it dies. A worker that exits, throws outside a request, or answers a
// request as fatal (its backend aborted) is "failed": every request in flight is rejected with
// ComputeUnavailable and 'failed' is emitted, so the owner can pause the run and start a new one.
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { GPT2Config, TensorRecord } from '@splitlora/model';
import type { ComputeHealthInfo } from '@splitlora/protocol';
import { ComputeUnavailable } from '../engine';
import type { ComputeRequest, RequestEnvelope, WorkerInit, WorkerMessage, WorkerRole } from './messages';
import type { ComputeService, RequestOptions } from './service';
import type { BackwardReply, BackwardRequest, ForwardReply, ForwardRequest, ServerCompute, ServerPartSpec, ServerSnapshot, StepReply, StepRequest } from './server-compute';

export type ComputeHealth = ComputeHealthInfo;

export interface ComputeWorkerOptions {
  role: WorkerRole;
  backend: string;
  config: GPT2Config;
  /** On SharedArrayBuffers (see sharedRecord), so that no worker copies them. */
  weights: TensorRecord;
  allowFaults?: boolean;
}

interface InFlight {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  onProgress?: (done: number, total: number) => void;
}

/** The record's tensors moved onto one SharedArrayBuffer (one copy, made once at start). */
export function sharedRecord(rec: TensorRecord): TensorRecord {
  const total = Object.values(rec).reduce((s, t) => s + t.data.length, 0);
  const sab = new SharedArrayBuffer(total * 4);
  const out: TensorRecord = {};
  let off = 0;
  for (const [k, t] of Object.entries(rec)) {
    const view = new Float32Array(sab, off * 4, t.data.length);
    view.set(t.data);
    out[k] = { shape: t.shape.slice(), data: view };
    off += t.data.length;
  }
  return out;
}

/** Buffers that can be moved to the worker: only views covering a whole, unshared ArrayBuffer. */
function movable(views: ArrayBufferView[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of views) {
    if (v.buffer instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength) out.add(v.buffer);
  }
  return [...out];
}

export class ComputeWorker extends EventEmitter implements ComputeService {
  readonly engine = 'tfjs' as const;
  private worker: Worker | null = null;
  private nextId = 1;
  private inFlight = new Map<number, InFlight>();
  private readyPromise: Promise<void> | null = null;
  readonly health: ComputeHealth = { status: 'idle', backend: null, restarts: 0, lastFailure: null };
  private starts = 0;

  constructor(readonly opts: ComputeWorkerOptions) {
    super();
  }

  /** Starts a worker (a fresh one after a failure); resolves when its backend is up. */
  start(): Promise<void> {
    if (this.worker && this.health.status !== 'failed') return this.readyPromise!;
    if (this.starts++ > 0) this.health.restarts += 1;
    this.health.status = 'starting';
    const init: WorkerInit = { role: this.opts.role, backend: this.opts.backend, config: this.opts.config, weights: this.opts.weights, allowFaults: this.opts.allowFaults ?? false };
    const worker = new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: init, name: `splitlora-${this.opts.role}` });
    this.worker = worker;
    this.readyPromise = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: WorkerMessage) => {
        if (worker !== this.worker) return;
        if (m.kind === 'ready') {
          this.health.status = 'ready';
          this.health.backend = m.backend;
          resolve();
        } else if (m.kind === 'start-failed') {
          reject(new Error(`compute worker could not start: ${m.error}`));
          this.fail(`backend did not start: ${m.error}`);
        } else if (m.kind === 'progress') {
          this.inFlight.get(m.id)?.onProgress?.(m.done, m.total);
        } else {
          const p = this.inFlight.get(m.id);
          this.inFlight.delete(m.id);
          if (m.ok) p?.resolve(m.result);
          else {
            p?.reject(m.fatal ? new ComputeUnavailable(`the compute backend failed: ${m.error}`) : new Error(m.error));
            if (m.fatal) this.fail(`backend failure: ${m.error}`);
          }
        }
      });
      worker.on('error', (e) => {
        if (worker !== this.worker) return;
        reject(e);
        this.fail(`worker error: ${e.message}`);
      });
      worker.on('exit', (code) => {
        if (worker !== this.worker) return;
        const reason = `worker exited with code ${code}`;
        reject(new Error(reason));
        if (this.health.status !== 'closed') this.fail(reason);
      });
    });
    this.readyPromise.catch(() => {}); // failures also arrive as 'failed'
    return this.readyPromise;
  }

  get ready(): Promise<void> {
    return this.readyPromise ?? this.start();
  }

  /** Sends one request; the buffers of `moveViews` are moved to the worker when that is safe. */
  async request<T>(req: ComputeRequest, opts: RequestOptions = {}): Promise<T> {
    await this.ready;
    const worker = this.worker;
    if (!worker || this.health.status !== 'ready') throw new ComputeUnavailable(`the compute worker is ${this.health.status}`);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.inFlight.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress: opts.onProgress });
      const env: RequestEnvelope = { id, req };
      try {
        worker.postMessage(env, movable(opts.moveViews ?? []));
      } catch (e) {
        this.inFlight.delete(id);
        reject(e);
      }
    });
  }

  private fail(reason: string): void {
    if (this.health.status === 'failed' || this.health.status === 'closed') return;
    this.health.status = 'failed';
    this.health.lastFailure = { at: Date.now(), reason };
    const err = new ComputeUnavailable(`the compute worker failed (${reason}); the request was not applied`);
    for (const p of this.inFlight.values()) p.reject(err);
    this.inFlight.clear();
    const w = this.worker;
    void w?.terminate();
    this.emit('failed', reason);
  }

  /** Kills the worker now, as a crash would (tests; and a stuck worker). */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  async close(): Promise<void> {
    this.health.status = 'closed';
    const err = new ComputeUnavailable('the compute worker was closed');
    for (const p of this.inFlight.values()) p.reject(err);
    this.inFlight.clear();
    // Forget it before terminating: a start() right after close() (a pool's restart) gets a fresh worker.
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }
}

/** One run's server part inside a compute service (a tfjs worker or the torch engine's process). */
export class WorkerServerCompute implements ServerCompute {
  private constructor(private readonly worker: ComputeService, readonly key: string) {}

  static async open(worker: ComputeService, key: string, spec: ServerPartSpec): Promise<WorkerServerCompute> {
    await worker.request({ op: 'open', key, spec });
    return new WorkerServerCompute(worker, key);
  }

  step(group: StepRequest[]): Promise<{ replies: StepReply[]; busyMs: number }> {
    // Only the data crosses (the engine's queue entries also carry their promise callbacks).
    const plain = group.map(({ clientId, acts, targets, mask }) => ({ clientId, acts, targets, mask }));
    return this.worker.request({ op: 'step', key: this.key, group: plain }, { moveViews: plain.map((g) => g.acts.data) });
  }

  forwardTop(group: ForwardRequest[]): Promise<{ replies: ForwardReply[]; busyMs: number }> {
    const plain = group.map(({ clientId, step, acts }) => ({ clientId, step, acts }));
    return this.worker.request({ op: 'forward-top', key: this.key, group: plain }, { moveViews: plain.map((g) => g.acts.data) });
  }

  backwardTop(group: BackwardRequest[]): Promise<{ replies: (BackwardReply | null)[]; busyMs: number }> {
    const plain = group.map(({ clientId, step, grad }) => ({ clientId, step, grad }));
    return this.worker.request({ op: 'backward-top', key: this.key, group: plain }, { moveViews: plain.map((g) => g.grad.data) });
  }

  async dropHeld(clientId: string | null): Promise<void> {
    if (this.worker.health.status === 'ready') await this.worker.request({ op: 'drop-held', key: this.key, clientId });
  }

  snapshot(): Promise<ServerSnapshot> {
    return this.worker.request({ op: 'snapshot', key: this.key });
  }

  async restore(snapshot: ServerSnapshot): Promise<void> {
    await this.worker.request({ op: 'restore', key: this.key, snapshot });
  }

  async dispose(): Promise<void> {
    if (this.worker.health.status === 'ready') await this.worker.request({ op: 'close', key: this.key });
  }
}

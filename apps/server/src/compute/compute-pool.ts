// The tfjs training service over several worker threads: tfjs-wasm in Node computes on one core,
// so one step's rows are spread over N workers, each holding a replica of every server part.
//
// A step: the main thread packs the group as LocalServerCompute.step does and gives worker j the
// contiguous rows [r_j, r_j+1) ('grads', with the whole step's dropout masks via the row offset).
// The loss and every gradient are sums over rows, so the adapter gradients of the slices (tiny:
// LoRA) are summed here in float32 in worker order, which makes the result deterministic, and the
// sum goes to every replica ('apply'), each applying the same AdamW update: the replicas stay
// identical, so snapshots come from worker 0. Row losses and ∂loss/∂acts are only concatenated.
//
// Memory grows with N: each worker keeps its own copy of the frozen server weights on its backend
// (wasm copies them into its heap) and its own tape.
//
// U-shaped parts (labels "client") live on worker 0 alone: their forwards are held between two
// round trips, and spreading them would need each backward routed to the workers holding its rows.
//
// Any worker failing fails the pool as one ComputeWorker fails: requests in flight reject with
// ComputeUnavailable, every worker goes, 'failed' is emitted, and start() brings up N fresh ones
// (the owner rebuilds its parts from their restore points, as after a single worker's failure).
import { EventEmitter } from 'node:events';
import type { GPT2Config, TensorRecord } from '@splitlora/model';
import type { ComputeHealthInfo } from '@splitlora/protocol';
import { ComputeUnavailable } from '../engine';
import { ComputeWorker } from './compute-worker';
import type { ComputeRequest, WorkerMemory } from './messages';
import { packStep, unpackStep, type RowGrads, type RowSlice, type StepReply, type StepRequest } from './server-compute';
import type { ComputeService, RequestOptions } from './service';

export interface ComputePoolOptions {
  /** Worker threads (≥ 1; one is a plain ComputeWorker with extra steps). */
  workers: number;
  backend: string;
  config: GPT2Config;
  /** On SharedArrayBuffers (sharedRecord): every worker reads the same bytes. */
  weights: TensorRecord;
  allowFaults?: boolean;
}

/** Contiguous row ranges [r0, r1) of `rows` over at most `n` workers, sizes differing by at most 1. */
export function rowShares(rows: number, n: number): [number, number][] {
  const k = Math.max(1, Math.min(n, rows));
  return Array.from({ length: k }, (_, j) => [Math.floor((j * rows) / k), Math.floor(((j + 1) * rows) / k)]);
}

/** Σ_j recs[j], tensor by tensor, in float32 and in the order given (so every run sums alike). */
export function sumRecords(recs: TensorRecord[]): TensorRecord {
  const out: TensorRecord = {};
  for (const [name, t] of Object.entries(recs[0])) {
    const acc = t.data.slice();
    for (let j = 1; j < recs.length; j++) {
      const g = recs[j][name]?.data;
      if (!g || g.length !== acc.length) throw new Error(`compute pool: worker ${j} sent no gradient of [${t.shape}] for "${name}"`);
      for (let i = 0; i < acc.length; i++) acc[i] += g[i];
    }
    out[name] = { shape: t.shape.slice(), data: acc };
  }
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

type KeyedRequest = Extract<ComputeRequest, { key: string }>;

export class ComputePool extends EventEmitter implements ComputeService {
  readonly engine = 'tfjs' as const;
  readonly health: ComputeHealthInfo = { status: 'idle', backend: null, restarts: 0, lastFailure: null };
  readonly workers: readonly ComputeWorker[];
  private readyPromise: Promise<void> | null = null;
  private starts = 0;
  /** Bumped at each start, so that a request of the failed pool never reaches the fresh workers. */
  private generation = 0;
  /** Parts open on worker 0 only (labels "client"). */
  private readonly ushaped = new Set<string>();
  /** Each part's requests in order, as a worker's queue keeps them: nothing lands between a step's two phases. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(readonly opts: ComputePoolOptions) {
    super();
    if (!(Number.isInteger(opts.workers) && opts.workers >= 1)) throw new Error(`compute pool: workers must be a whole number ≥ 1, got ${opts.workers}`);
    this.workers = Array.from({ length: opts.workers }, (_, j) => {
      const w = new ComputeWorker({ role: 'train', backend: opts.backend, config: opts.config, weights: opts.weights, allowFaults: opts.allowFaults });
      w.on('failed', (reason: string) => this.fail(`worker ${j + 1} of ${opts.workers}: ${reason}`));
      return w;
    });
  }

  /** Starts every worker (fresh ones after a failure); resolves when all are up. */
  start(): Promise<void> {
    if (this.readyPromise && (this.health.status === 'starting' || this.health.status === 'ready')) return this.readyPromise;
    if (this.starts++ > 0) this.health.restarts += 1;
    this.health.status = 'starting';
    const gen = ++this.generation;
    this.readyPromise = Promise.all(this.workers.map((w) => w.start())).then(() => {
      if (gen !== this.generation || this.health.status !== 'starting') throw new ComputeUnavailable(`the compute pool is ${this.health.status}`);
      this.health.status = 'ready';
      this.health.backend = `${this.workers[0].health.backend} (${this.workers.length} workers)`;
    });
    this.readyPromise.catch(() => {}); // failures also arrive as 'failed'
    return this.readyPromise;
  }

  get ready(): Promise<void> {
    return this.readyPromise ?? this.start();
  }

  async request<T>(req: ComputeRequest, opts: RequestOptions = {}): Promise<T> {
    await this.ready;
    if (this.health.status !== 'ready') throw new ComputeUnavailable(`the compute pool is ${this.health.status}`);
    const gen = this.generation;
    if (!('key' in req)) return (req.op === 'memory' ? this.memory(gen) : this.send(gen, 0, req, opts)) as Promise<T>;
    const key = req.key;
    const run = (this.queues.get(key) ?? Promise.resolve()).then(() => this.keyed(gen, req, opts));
    const tail = run.catch(() => {});
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run as Promise<T>;
  }

  private send<T>(gen: number, j: number, req: ComputeRequest, opts?: RequestOptions): Promise<T> {
    if (gen !== this.generation || this.health.status !== 'ready') return Promise.reject(new ComputeUnavailable(`the compute pool is ${this.health.status === 'ready' ? 'restarted' : this.health.status}; the request was not applied`));
    return this.workers[j].request<T>(req, opts);
  }

  private async keyed(gen: number, req: KeyedRequest, opts: RequestOptions): Promise<unknown> {
    switch (req.op) {
      case 'open': {
        if (req.spec.labels === 'client') this.ushaped.add(req.key);
        else this.ushaped.delete(req.key);
        const u = this.ushaped.has(req.key);
        // A U-shaped part replacing a spread one must not leave stale replicas behind.
        const all = await Promise.all(this.workers.map((_, j) => this.send(gen, j, j === 0 || !u ? req : { op: 'close', key: req.key })));
        return all[0];
      }
      case 'restore':
      case 'close': {
        const n = this.ushaped.has(req.key) ? 1 : this.workers.length;
        const all = await Promise.all(this.workers.slice(0, n).map((_, j) => this.send(gen, j, req)));
        if (req.op === 'close') this.ushaped.delete(req.key);
        return all[0];
      }
      case 'step':
        if (this.ushaped.has(req.key) || req.group.length === 0) return this.send(gen, 0, req, opts);
        return this.step(gen, req.key, req.group);
      default: // snapshot (the replicas are identical), the U-shaped ops, drop-held
        return this.send(gen, 0, req, opts);
    }
  }

  private async step(gen: number, key: string, group: StepRequest[]): Promise<{ replies: StepReply[]; busyMs: number }> {
    const t0 = performance.now();
    const d = this.opts.config.nEmbd;
    const p = packStep(group, d);
    const T = p.T;
    const parts = await Promise.all(rowShares(p.rows, this.workers.length).map(([r0, r1], j) => {
      const slice: RowSlice = { row0: r0, rows: r1 - r0, T, acts: p.acts.slice(r0 * T * d, r1 * T * d), targets: p.targets.slice(r0 * T, r1 * T), weights: p.weights.slice(r0 * T, r1 * T) };
      return this.send<RowGrads>(gen, j, { op: 'grads', key, slice }, { moveViews: [slice.acts, slice.targets, slice.weights] });
    }));
    const grads = sumRecords(parts.map((r) => r.grads));
    const { replies, tokens } = unpackStep(group, p, concat(parts.map((r) => r.rowLoss)), concat(parts.map((r) => r.gradActs)), d);
    try {
      await Promise.all(this.workers.map((_, j) => this.send(gen, j, { op: 'apply', key, grads, tokens })));
    } catch (e) {
      if (e instanceof ComputeUnavailable) throw e;
      // Some replicas may have applied the step and others not: only a rebuild puts them back in step.
      const reason = `a replica could not apply a step: ${(e as Error).message}`;
      this.fail(reason);
      throw new ComputeUnavailable(`the compute pool failed (${reason}); the request was not applied`);
    }
    return { replies, busyMs: performance.now() - t0 };
  }

  /** Every worker's memory, summed (the backend is worker 0's). */
  private async memory(gen: number): Promise<WorkerMemory> {
    const all = await Promise.all(this.workers.map((_, j) => this.send<WorkerMemory>(gen, j, { op: 'memory' })));
    const sum = (f: (m: WorkerMemory) => number | null | undefined) => (all.some((m) => f(m) == null) ? null : all.reduce((s, m) => s + f(m)!, 0));
    return { backend: all[0].backend, numTensors: sum((m) => m.numTensors)!, numBytes: sum((m) => m.numBytes)!, wasmHeapBytes: sum((m) => m.wasmHeapBytes) };
  }

  private fail(reason: string): void {
    if (this.health.status === 'failed' || this.health.status === 'closed') return;
    this.health.status = 'failed';
    this.health.lastFailure = { at: Date.now(), reason };
    // The other replicas go too (their requests in flight reject): a restart rebuilds every part.
    for (const w of this.workers) void w.close();
    this.emit('failed', reason);
  }

  /** Kills every worker now, as a crash would (tests; and a stuck pool). */
  async kill(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.kill()));
  }

  async close(): Promise<void> {
    this.health.status = 'closed';
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

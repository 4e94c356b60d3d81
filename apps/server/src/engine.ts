// The server's step queue for one run: clients' activations wait here and go to the compute
// service (a worker thread in the server, see compute/) one group at a time. When several wait at
// once they run as one batched step (compute/server-compute.ts explains the arithmetic).
//
// It also keeps the restore point: the server part's state at the start of the current round,
// taken at every aggregation (the checkpoint's server half). A compute worker that dies is
// restarted from it (run-manager.ts).
import type { ComputeStats, ServerCompute, ServerSnapshot, StepReply, StepRequest } from './compute/server-compute';

export type { StepReply, StepRequest } from './compute/server-compute';

interface Pending extends StepRequest {
  resolve: (r: StepReply) => void;
  reject: (e: unknown) => void;
}

export interface EngineOptions {
  /** Merge concurrent requests into one batched step. */
  batching: boolean;
  /** At most this many requests per batched step. */
  maxGroup: number;
}

export interface EngineStats extends ComputeStats {
  busyMs: number;
}

/** The compute service failed (its worker died or its backend aborted); the step was not applied. */
export class ComputeUnavailable extends Error {
  override readonly name = 'ComputeUnavailable';
}

export class ServerEngine {
  private queue: Pending[] = [];
  private exclusive: { fn: () => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  private running = false;
  readonly stats: EngineStats = { serverSteps: 0, tokens: 0, busyMs: 0 };
  /** The server part at the start of the current round (null until the first snapshot). */
  restorePoint: ServerSnapshot | null = null;

  constructor(public compute: ServerCompute, readonly opts: EngineOptions) {}

  /** Queues one client's step; resolves with its loss and cut gradient. */
  submit(req: StepRequest): Promise<StepReply> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...req, resolve, reject });
      void this.drain();
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  /**
   * Runs `fn` between two server steps, with no step in progress (so no half-applied update can
   * slip in between tensors of a snapshot).
   */
  between<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.exclusive.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      void this.drain();
    });
  }

  /** The server adapter, optimizer state and counters now, between steps. */
  snapshot(): Promise<ServerSnapshot> {
    return this.between(() => this.compute.snapshot());
  }

  /** A snapshot that also becomes the restore point (at an aggregation, or when a run starts). */
  async checkpoint(): Promise<ServerSnapshot> {
    const s = await this.snapshot();
    this.restorePoint = s;
    return s;
  }

  /** Fails everything queued (the compute service is gone); nothing of it was applied. */
  failAll(reason: string): void {
    const err = new ComputeUnavailable(reason);
    for (const p of this.queue.splice(0)) p.reject(err);
    for (const j of this.exclusive.splice(0)) j.reject(err);
  }

  /** Puts the compute service back at the restore point (after a worker restart). */
  async rewind(compute: ServerCompute): Promise<void> {
    this.compute = compute;
    if (this.restorePoint) Object.assign(this.stats, this.restorePoint.stats);
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 || this.exclusive.length > 0) {
        const job = this.exclusive.shift();
        if (job) {
          await job.fn().then(job.resolve, job.reject);
          continue;
        }
        const group = this.queue.splice(0, this.opts.batching ? this.opts.maxGroup : 1);
        try {
          const { replies, busyMs } = await this.compute.step(group);
          this.stats.serverSteps += 1;
          this.stats.tokens += group.reduce((s, g) => s + g.acts.shape[0] * g.acts.shape[1], 0);
          this.stats.busyMs += busyMs;
          group.forEach((p, j) => p.resolve(replies[j]));
        } catch (e) {
          for (const p of group) p.reject(e);
        }
        // Let socket handlers enqueue more work between steps.
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
    }
  }
}

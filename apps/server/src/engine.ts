// The server's step queue for one run: clients' activations wait here and go to the compute
// service (a worker thread in the server, see compute/) one group at a time. When several wait at
// once they run as one batched step (compute/server-compute.ts explains the arithmetic).
//
// It also keeps the restore point: the server part's state at the start of the current round,
// taken at every aggregation (the checkpoint's server half). A compute worker that dies is
// restarted from it (run-manager.ts).
import type { BackwardReply, BackwardRequest, ComputeStats, ForwardReply, ForwardRequest, ServerCompute, ServerSnapshot, StepReply, StepRequest } from './compute/server-compute';

export type { BackwardReply, BackwardRequest, ForwardReply, ForwardRequest, StepReply, StepRequest } from './compute/server-compute';

/** A queued request: a SplitLoRA step, or one of the U-shaped split's two halves. */
type Pending =
  | { kind: 'step'; req: StepRequest; resolve: (r: StepReply) => void; reject: (e: unknown) => void }
  | { kind: 'forward'; req: ForwardRequest; resolve: (r: ForwardReply) => void; reject: (e: unknown) => void }
  | { kind: 'backward'; req: BackwardRequest; resolve: (r: BackwardReply | null) => void; reject: (e: unknown) => void };

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
      this.queue.push({ kind: 'step', req, resolve, reject });
      void this.drain();
    });
  }

  /** U-shaped round trip 1: queues h_k, resolves with h_L (the server holds the input until backward). */
  submitForward(req: ForwardRequest): Promise<ForwardReply> {
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'forward', req, resolve, reject });
      void this.drain();
    });
  }

  /** U-shaped round trip 2: queues ∂loss/∂h_L; resolves with ∂loss/∂h_k, or null when no forward is held for it. */
  submitBackward(req: BackwardRequest): Promise<BackwardReply | null> {
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: 'backward', req, resolve, reject });
      void this.drain();
    });
  }

  /** Frees a client's held U-shaped forwards (it left, timed out or starts over). */
  dropHeld(clientId: string): Promise<void> {
    return this.between(() => this.compute.dropHeld(clientId));
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

  /** The oldest request and, when batching, up to maxGroup − 1 more of its kind (the rest keep their order). */
  private takeGroup(): Pending[] {
    const max = this.opts.batching ? this.opts.maxGroup : 1;
    const kind = this.queue[0].kind;
    const group: Pending[] = [];
    const rest: Pending[] = [];
    for (const p of this.queue) (p.kind === kind && group.length < max ? group : rest).push(p);
    this.queue = rest;
    return group;
  }

  private async run(group: Pending[]): Promise<void> {
    const tokens = (shape: number[]) => shape[0] * shape[1];
    if (group[0].kind === 'step') {
      const steps = group as Extract<Pending, { kind: 'step' }>[];
      const { replies, busyMs } = await this.compute.step(steps.map((p) => p.req));
      this.stats.serverSteps += 1;
      this.stats.tokens += steps.reduce((s, g) => s + tokens(g.req.acts.shape), 0);
      this.stats.busyMs += busyMs;
      steps.forEach((p, j) => p.resolve(replies[j]));
    } else if (group[0].kind === 'forward') {
      const fwd = group as Extract<Pending, { kind: 'forward' }>[];
      const { replies, busyMs } = await this.compute.forwardTop(fwd.map((p) => p.req));
      this.stats.busyMs += busyMs;
      fwd.forEach((p, j) => p.resolve(replies[j]));
    } else {
      const bwd = group as Extract<Pending, { kind: 'backward' }>[];
      const { replies, busyMs } = await this.compute.backwardTop(bwd.map((p) => p.req));
      if (replies.some((r) => r !== null)) this.stats.serverSteps += 1;
      this.stats.tokens += bwd.reduce((s, g, j) => s + (replies[j] ? tokens(g.req.grad.shape) : 0), 0);
      this.stats.busyMs += busyMs;
      bwd.forEach((p, j) => p.resolve(replies[j]));
    }
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
        const group = this.takeGroup();
        try {
          await this.run(group);
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

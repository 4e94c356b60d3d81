// Explicit round state with a cutoff. Pure and clock-injected: no timers inside. The caller
// passes `now`, reports events (upload, disconnect, step timeout) and calls `tick()` after each
// event and on a timer; `tick()` returns the outcome exactly once, when the round closes.
//
// A round n runs in two phases:
//   training   open(n, expected): the clients present now are expected; a client that joins
//              later is not (it joins round n+1). Failures (disconnect, step deadline) remove a
//              client from the round.
//   uploading  requestUploads(): the upload deadline starts. The round closes when every
//              expected client has uploaded or failed, or at the deadline, when the ones still
//              pending fail with reason "deadline".
// Rejected uploads are verdicts, not exceptions; only API misuse (opening a round twice) throws.

import type { TensorRecord } from './fedavg';
import type { FitFailure, FitResult } from './strategy';

export type RoundPhase = 'training' | 'uploading';

export type UploadRejection =
  | 'no-round' // no round is open
  | 'stale-round' // the upload names a round that already closed
  | 'future-round' // the upload names a round not opened yet
  | 'not-expected' // the client joined after the round opened
  | 'duplicate' // the client already uploaded for this round
  | 'already-failed' // the client was marked failed (disconnect, step deadline) in this round
  | 'late'; // the upload deadline has passed

export type UploadVerdict = { ok: true } | { ok: false; reason: UploadRejection; message: string };

export interface RoundOutcome {
  round: number;
  expected: string[];
  /** In arrival order. */
  results: FitResult[];
  /** In the order the failures happened; includes "deadline" stragglers. */
  failures: FitFailure[];
  closedBy: 'complete' | 'deadline' | 'aborted';
  openedAt: number;
  closedAt: number;
}

export interface RoundTrackerOptions {
  now: () => number;
  /** Default upload window for requestUploads(), in the units of `now` (ms). */
  uploadTimeoutMs: number;
}

interface OpenRound {
  round: number;
  expected: string[];
  expectedSet: Set<string>;
  results: Map<string, FitResult>;
  failures: Map<string, FitFailure>;
  openedAt: number;
  deadline: number; // Infinity during training
}

export class RoundTracker {
  private readonly now: () => number;
  private readonly uploadTimeoutMs: number;
  private current: OpenRound | null = null;
  private lastClosed = -1;

  constructor(opts: RoundTrackerOptions) {
    this.now = opts.now;
    this.uploadTimeoutMs = opts.uploadTimeoutMs;
    if (!(opts.uploadTimeoutMs > 0)) throw new Error(`RoundTracker: uploadTimeoutMs must be > 0, got ${opts.uploadTimeoutMs}`);
  }

  /** The open round's number, or null between rounds. */
  get round(): number | null {
    return this.current?.round ?? null;
  }

  get phase(): RoundPhase | null {
    if (!this.current) return null;
    return this.current.deadline === Infinity ? 'training' : 'uploading';
  }

  /** The upload deadline (Infinity while training), or null between rounds. */
  get deadline(): number | null {
    return this.current?.deadline ?? null;
  }

  /** Starts round `round` expecting `expected` (deduplicated). Round numbers must increase. */
  open(round: number, expected: readonly string[]): void {
    if (this.current) throw new Error(`RoundTracker: round ${this.current.round} is still open; tick() or abort() it first`);
    if (!Number.isInteger(round) || round <= this.lastClosed) {
      throw new Error(`RoundTracker: round ${round} must be an integer above the last closed round ${this.lastClosed}`);
    }
    const ids = [...new Set(expected)];
    this.current = {
      round,
      expected: ids,
      expectedSet: new Set(ids),
      results: new Map(),
      failures: new Map(),
      openedAt: this.now(),
      deadline: Infinity,
    };
  }

  /**
   * Opens round `round` again from scratch, dropping what it received so far: the server lost the
   * steps taken in it (its compute failed) and the clients redo the round. Opens it if it is not open.
   */
  restart(round: number, expected: readonly string[]): void {
    if (this.current && this.current.round !== round) throw new Error(`RoundTracker: cannot restart round ${round} while round ${this.current.round} is open`);
    this.current = null;
    this.open(round, expected);
  }

  /** Starts the upload window; returns the deadline. */
  requestUploads(timeoutMs = this.uploadTimeoutMs): number {
    const r = this.requireOpen('requestUploads');
    r.deadline = this.now() + timeoutMs;
    return r.deadline;
  }

  isExpected(clientId: string): boolean {
    return this.current?.expectedSet.has(clientId) ?? false;
  }

  /** Expected clients that have neither uploaded nor failed, in expected order. */
  pending(): string[] {
    const r = this.current;
    if (!r) return [];
    return r.expected.filter((id) => !r.results.has(id) && !r.failures.has(id));
  }

  submit(clientId: string, round: number, upload: { tensors: TensorRecord; examples: number }): UploadVerdict {
    const r = this.current;
    if (!r) {
      return round <= this.lastClosed
        ? reject('stale-round', `round ${round} has closed`)
        : reject('no-round', `no round is open; wait for aggregate-request`);
    }
    if (round < r.round) return reject('stale-round', `round ${round} has closed; the current round is ${r.round}`);
    if (round > r.round) return reject('future-round', `round ${round} has not started; the current round is ${r.round}`);
    if (!r.expectedSet.has(clientId)) return reject('not-expected', `client joined after round ${r.round} opened; it takes part from the next round`);
    if (r.results.has(clientId)) return reject('duplicate', `client already uploaded for round ${r.round}`);
    if (r.failures.has(clientId)) {
      return reject('already-failed', `client was dropped from round ${r.round} (${r.failures.get(clientId)!.reason})`);
    }
    if (this.now() >= r.deadline) return reject('late', `the upload deadline of round ${r.round} has passed`);
    r.results.set(clientId, { clientId, tensors: upload.tensors, examples: upload.examples });
    return { ok: true };
  }

  /** Marks a pending client failed (disconnect, step deadline, rejected upload). Returns false if it was not pending. */
  fail(clientId: string, reason: string): boolean {
    const r = this.current;
    if (!r || !r.expectedSet.has(clientId) || r.results.has(clientId) || r.failures.has(clientId)) return false;
    r.failures.set(clientId, { clientId, reason });
    return true;
  }

  /** Closes the round when everyone has settled or the deadline has passed; returns the outcome once. */
  tick(): RoundOutcome | null {
    const r = this.current;
    if (!r) return null;
    const now = this.now();
    const pending = this.pending();
    if (pending.length === 0) return this.close('complete', now);
    if (now < r.deadline) return null;
    for (const id of pending) r.failures.set(id, { clientId: id, reason: 'deadline' });
    return this.close('deadline', now);
  }

  /** Closes the round now (run stopped); pending clients fail with `reason`. */
  abort(reason = 'aborted'): RoundOutcome | null {
    const r = this.current;
    if (!r) return null;
    for (const id of this.pending()) r.failures.set(id, { clientId: id, reason });
    return this.close('aborted', this.now());
  }

  private close(closedBy: RoundOutcome['closedBy'], now: number): RoundOutcome {
    const r = this.current!;
    this.current = null;
    this.lastClosed = r.round;
    return {
      round: r.round,
      expected: [...r.expected],
      results: [...r.results.values()],
      failures: [...r.failures.values()],
      closedBy,
      openedAt: r.openedAt,
      closedAt: now,
    };
  }

  private requireOpen(what: string): OpenRound {
    if (!this.current) throw new Error(`RoundTracker: ${what} needs an open round; call open() first`);
    return this.current;
  }
}

function reject(reason: UploadRejection, message: string): UploadVerdict {
  return { ok: false, reason, message };
}

/**
 * Per-step deadlines for the split-training loop. Arm a client when the server starts waiting
 * for its next activations (after sending a gradient, or at round start); disarm it when it is
 * not expected to step (uploading, gone). `expired()` returns each overdue client once; the
 * caller then drops it from the round (`tracker.fail(id, 'step-deadline')`) and tells it so.
 */
export class StepDeadline {
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private readonly deadlines = new Map<string, number>();

  constructor(opts: { now: () => number; timeoutMs: number }) {
    this.now = opts.now;
    this.timeoutMs = opts.timeoutMs;
    if (!(opts.timeoutMs > 0)) throw new Error(`StepDeadline: timeoutMs must be > 0, got ${opts.timeoutMs}`);
  }

  /** (Re)starts the client's step clock; returns its deadline. */
  arm(clientId: string, timeoutMs = this.timeoutMs): number {
    const at = this.now() + timeoutMs;
    this.deadlines.delete(clientId); // re-insert so iteration order follows deadlines set
    this.deadlines.set(clientId, at);
    return at;
  }

  disarm(clientId: string): void {
    this.deadlines.delete(clientId);
  }

  /** Disarms every client (a round that restarts arms them again). */
  clear(): void {
    this.deadlines.clear();
  }

  deadlineOf(clientId: string): number | undefined {
    return this.deadlines.get(clientId);
  }

  /** Clients past their deadline, in the order they were armed; they are disarmed. */
  expired(): string[] {
    const now = this.now();
    const out: string[] = [];
    for (const [id, at] of this.deadlines) if (now >= at) out.push(id);
    for (const id of out) this.deadlines.delete(id);
    return out;
  }
}

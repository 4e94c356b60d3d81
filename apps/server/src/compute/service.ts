// What the server needs from a compute engine: a started service that answers the requests of
// messages.ts and says when it has failed. ComputeWorker (tfjs on a worker thread) and
// TorchCompute (PyTorch in a child process) are the two; runs, the cluster node and the recovery
// path speak to either through this interface only.
import type { EventEmitter } from 'node:events';
import type { ComputeHealthInfo } from '@splitlora/protocol';
import type { ComputeRequest } from './messages';

export type ComputeEngineName = 'tfjs' | 'torch';

export interface RequestOptions {
  /** Buffers that may be moved rather than copied (worker threads only). */
  moveViews?: ArrayBufferView[];
  onProgress?: (done: number, total: number) => void;
}

/**
 * Events: 'failed' (reason): the engine died or its backend broke; every request in flight was
 * rejected with ComputeUnavailable, and start() brings up a fresh one.
 */
export interface ComputeService extends EventEmitter {
  readonly engine: ComputeEngineName;
  readonly health: ComputeHealthInfo;
  /** Starts the engine (a fresh one after a failure); resolves when it can take requests. */
  start(): Promise<void>;
  readonly ready: Promise<void>;
  request<T>(req: ComputeRequest, opts?: RequestOptions): Promise<T>;
  /** Kills the engine now, as a crash would (tests; and a stuck engine). */
  kill(): Promise<void>;
  close(): Promise<void>;
}

// The message interface between the server's main thread and its compute workers. The main thread
// keeps sockets, HTTP, rounds and SQLite; a worker holds tfjs, the model weights on its backend,
// each run's server part with its optimizer, and evaluation jobs. Float32Array buffers cross as
// transferables (compute-worker.ts decides which can be moved rather than copied).
import type { GPT2Config, LoraConfig, TensorRecord } from '@splitlora/model';
import type { BackwardRequest, ForwardRequest, RowSlice, ServerPartSpec, ServerSnapshot, StepRequest } from './server-compute';

/** files: builds the client part's download files (no tfjs backend needed). */
export type WorkerRole = 'train' | 'evaluate' | 'files';

export interface WorkerInit {
  role: WorkerRole;
  /** Backend name for selectNodeBackend ("auto" picks the best). */
  backend: string;
  config: GPT2Config;
  /** Base weights on SharedArrayBuffers: every worker reads the same bytes, none is copied. */
  weights: TensorRecord;
  /** Accept `fault` requests (tests of the crash handling only). */
  allowFaults: boolean;
}

/** What an evaluation computes (see evaluations.ts). */
export interface EvaluationJob {
  /** A data file on the server; absent: the built-in synthetic held-out set. */
  file?: string;
  syntheticSeed: number;
  limit?: number;
  e2eMrs: number;
  lora: LoraConfig;
  /** The averaged client adapter plus the server adapter: one adapter for the whole model. */
  adapter: TensorRecord;
  /** Compute the held-out NLL on the torch engine (its own child process); beam search stays on tfjs. */
  torch?: { python: string; device: 'auto' | 'cpu' | 'cuda'; threads: number };
}

export type EvaluationOutput = Record<string, number | string | null>;

/** A worker's memory: tfjs's tensors, and the wasm heap (wasm32 stops at 4 GiB) when on wasm. */
export interface WorkerMemory {
  backend: string;
  numTensors: number;
  numBytes: number;
  wasmHeapBytes: number | null;
  /** torch engine: the child's resident memory, and CUDA's peak allocation on a GPU. */
  rssBytes?: number | null;
  cudaPeakBytes?: number | null;
}

export type ComputeRequest =
  | { op: 'open'; key: string; spec: ServerPartSpec }
  | { op: 'step'; key: string; group: StepRequest[] }
  /** U-shaped split (labels "client"): h_k → h_L, the input held until its backward. */
  | { op: 'forward-top'; key: string; group: ForwardRequest[] }
  /** ∂loss/∂h_L → AdamW step and ∂loss/∂h_k. */
  | { op: 'backward-top'; key: string; group: BackwardRequest[] }
  /** A pool worker's rows of a step (compute-pool.ts): RowGrads back, nothing applied. */
  | { op: 'grads'; key: string; slice: RowSlice }
  /** The pool's summed adapter gradients of that step: AdamW, sent to every replica alike. */
  | { op: 'apply'; key: string; grads: TensorRecord; tokens: number }
  | { op: 'drop-held'; key: string; clientId: string | null }
  | { op: 'snapshot'; key: string }
  | { op: 'restore'; key: string; snapshot: ServerSnapshot }
  | { op: 'close'; key: string }
  | { op: 'evaluate'; job: EvaluationJob }
  /** torch engine: the whole model with one adapter (no training), for held-out NLL. */
  | { op: 'open-full'; key: string; config: GPT2Config; lora: LoraConfig; adapter: TensorRecord }
  /** torch engine: Σ −log p[target]·mask and Σ mask of one batch on an open-full model. */
  | { op: 'nll'; key: string; batch: { ids: Int32Array; targets: Int32Array; mask: Float32Array; batch: number; seqLen: number } }
  /** head: the U-shaped split's client part (ln_f too). */
  | { op: 'client-file'; cut: number; dtype: 'F16' | 'F32'; head?: boolean }
  | { op: 'memory' }
  /** backend-abort: the backend's module aborts as a wasm abort does; exit: the thread dies. */
  | { op: 'fault'; kind: 'backend-abort' | 'exit' };

export type WorkerMessage =
  | { kind: 'ready'; backend: string }
  | { kind: 'start-failed'; error: string }
  | { kind: 'progress'; id: number; done: number; total: number }
  | { kind: 'reply'; id: number; ok: true; result: unknown }
  /** fatal: the backend is broken; the worker exits right after this reply. */
  | { kind: 'reply'; id: number; ok: false; error: string; fatal: boolean };

export interface RequestEnvelope {
  id: number;
  req: ComputeRequest;
}

/** Errors after which a tfjs backend cannot be trusted again (wasm aborts, lost GPU devices). */
export function isFatalBackendError(e: unknown): boolean {
  if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) return true;
  const msg = e instanceof Error ? e.message : String(e);
  return /Aborted\(|memory access out of bounds|out of memory|Cannot enlarge memory|device (was )?lost|unreachable/i.test(msg);
}

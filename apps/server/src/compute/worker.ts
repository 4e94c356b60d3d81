// A compute worker thread: picks its tfjs backend, builds base weights from the shared host
// bytes, and serves requests one at a time (messages.ts). A backend error that leaves the backend
// unusable (a wasm abort) is answered as fatal, and the thread exits so the main thread can start
// a fresh one; any other error fails only its request.
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { selectNodeBackend } from '@splitlora/backend/node';
import { serverTensorNames, toWeights, type TensorRecord, type Weights } from '@splitlora/model';
import { runEvaluationJob } from './evaluate-job';
import { isFatalBackendError, type ComputeRequest, type RequestEnvelope, type WorkerInit, type WorkerMessage } from './messages';
import { buildClientFile } from '../model-files';
import { LocalServerCompute, type StepReply } from './server-compute';

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

const parts = new Map<string, LocalServerCompute>();
const weightsByCut = new Map<number, Weights>();
let fullWeights: Weights | null = null;
let backend = '';

/** tfjs tensors from the shared bytes: wasm copies into its heap; other backends get a private copy. */
function weightsOf(names: string[]): Weights {
  const rec: TensorRecord = {};
  const copy = backend !== 'wasm';
  for (const n of names) {
    const t = init.weights[n];
    if (!t) throw new Error(`compute worker: the model has no tensor "${n}"`);
    rec[n] = copy ? { shape: t.shape, data: t.data.slice() } : t;
  }
  return toWeights(rec);
}

function serverWeights(cut: number): Weights {
  let w = weightsByCut.get(cut);
  if (!w) weightsByCut.set(cut, (w = weightsOf(serverTensorNames(init.config, cut))));
  return w;
}

function part(key: string): LocalServerCompute {
  const p = parts.get(key);
  if (!p) throw new Error(`compute worker: no server part "${key}" is open here`);
  return p;
}

function gradBuffers(replies: StepReply[]): ArrayBuffer[] {
  return replies.map((r) => r.grad.data.buffer as ArrayBuffer);
}

/** The buffers of views that cover them whole (tfjs may hand back views into a larger buffer). */
function wholeBuffers(views: Float32Array[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of views) if (v.buffer instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength) out.add(v.buffer);
  return [...out];
}

/** Runs one request; returns its result and the buffers to move rather than copy. */
async function handle(id: number, req: ComputeRequest): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> {
  switch (req.op) {
    case 'open': {
      await parts.get(req.key)?.dispose();
      parts.set(req.key, new LocalServerCompute(serverWeights(req.spec.cut), req.spec));
      return { result: null };
    }
    case 'step': {
      const out = await part(req.key).step(req.group);
      return { result: out, transfer: gradBuffers(out.replies) };
    }
    case 'grads': {
      const out = await part(req.key).rowGrads(req.slice);
      return { result: out, transfer: wholeBuffers([out.rowLoss, out.gradActs, ...Object.values(out.grads).map((t) => t.data)]) };
    }
    case 'apply':
      part(req.key).applyGrads(req.grads, req.tokens);
      return { result: null };
    case 'forward-top': {
      const out = await part(req.key).forwardTop(req.group);
      return { result: out, transfer: out.replies.map((r) => r.top.data.buffer as ArrayBuffer) };
    }
    case 'backward-top': {
      const out = await part(req.key).backwardTop(req.group);
      return { result: out, transfer: out.replies.flatMap((r) => (r ? [r.grad.data.buffer as ArrayBuffer] : [])) };
    }
    case 'drop-held':
      await part(req.key).dropHeld(req.clientId);
      return { result: null };
    case 'snapshot':
      return { result: await part(req.key).snapshot() };
    case 'restore':
      await part(req.key).restore(req.snapshot);
      return { result: null };
    case 'close':
      await parts.get(req.key)?.dispose();
      parts.delete(req.key);
      return { result: null };
    case 'evaluate': {
      fullWeights ??= weightsOf(Object.keys(init.weights));
      return { result: await runEvaluationJob(init.config, fullWeights, req.job, (done, total) => post({ kind: 'progress', id, done, total }), init.weights) };
    }
    case 'client-file': {
      const file = buildClientFile(init.config, init.weights, req.cut, req.dtype, req.head ?? false);
      const whole = file.bytes.byteOffset === 0 && file.bytes.byteLength === file.bytes.buffer.byteLength;
      return { result: file, transfer: whole ? [file.bytes.buffer as ArrayBuffer] : [] };
    }
    case 'memory': {
      // tfjs's own count, and for wasm the heap it has grown to (the 4 GB limit applies to this).
      const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.byteLength ?? null;
      const m = tf.memory();
      return { result: { backend, numTensors: m.numTensors, numBytes: m.numBytes, wasmHeapBytes: heap } };
    }
    case 'open-full':
    case 'nll':
      throw new Error(`compute worker: "${req.op}" is a torch engine request (tfjs evaluations use 'evaluate')`);
    case 'fault': {
      if (!init.allowFaults) throw new Error('compute worker: fault requests are for tests only');
      if (req.kind === 'exit') process.exit(3);
      // What a wasm abort does: the module's abort() marks it dead and throws; later calls fail too.
      const wasm = (tf.backend() as unknown as { wasm?: { abort?: (what: string) => void } }).wasm;
      if (wasm?.abort) wasm.abort('fault injected by a test');
      throw new WebAssembly.RuntimeError('Aborted(fault injected by a test)');
    }
  }
}

let chain: Promise<void> = Promise.resolve();
port.on('message', (env: RequestEnvelope) => {
  chain = chain.then(async () => {
    try {
      const { result, transfer } = await handle(env.id, env.req);
      post({ kind: 'reply', id: env.id, ok: true, result }, transfer);
    } catch (e) {
      const fatal = isFatalBackendError(e);
      post({ kind: 'reply', id: env.id, ok: false, error: e instanceof Error ? e.message : String(e), fatal });
      if (fatal) process.exit(70);
    }
  });
});

try {
  backend = init.role === 'files' ? 'none' : await selectNodeBackend(init.backend, () => {});
  post({ kind: 'ready', backend });
} catch (e) {
  post({ kind: 'start-failed', error: (e as Error).message });
  process.exit(1);
}

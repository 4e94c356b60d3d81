// The torch engine as a compute service: a PyTorch child process (packages/engine-torch) that
// answers the requests of messages.ts for the training role. Frozen weights cross once, at the
// first `open` that needs them; a new adapter's initial values are made here (initLora), so both
// engines start from the same bits. A child that exits, is killed, or answers a request as fatal
// (CUDA out of memory) fails every request in flight with ComputeUnavailable and emits 'failed',
// exactly as a dying tfjs worker does, so runs take the same recovery path.
import { EventEmitter } from 'node:events';
import { TorchProcess, type TorchDevice, type TorchMessage, type TorchReady } from '@splitlora/engine-torch';
import { initLora, serverTensorNames, type GPT2Config, type TensorRecord } from '@splitlora/model';
import type { ComputeHealthInfo } from '@splitlora/protocol';
import { ComputeUnavailable } from '../engine';
import type { ComputeRequest } from './messages';
import type { ComputeService } from './service';

export interface TorchComputeOptions {
  python: string;
  device: TorchDevice;
  threads: number;
  config: GPT2Config;
  weights: TensorRecord;
  allowFaults?: boolean;
  /** The child's stderr lines (warnings, tracebacks of failed requests). */
  onStderr?: (line: string) => void;
}

interface InFlight {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class TorchCompute extends EventEmitter implements ComputeService {
  readonly engine = 'torch' as const;
  readonly health: ComputeHealthInfo = { status: 'idle', backend: null, restarts: 0, lastFailure: null };
  /** What the running child reported at start (device, threads, torch version). */
  info: TorchReady | null = null;
  private proc: TorchProcess | null = null;
  private nextId = 1;
  private inFlight = new Map<number, InFlight>();
  private readyPromise: Promise<void> | null = null;
  /** Frozen tensors the running child holds. */
  private sent = new Set<string>();
  private starts = 0;

  constructor(readonly opts: TorchComputeOptions) {
    super();
  }

  start(): Promise<void> {
    if (this.proc && this.health.status !== 'failed') return this.readyPromise!;
    if (this.starts++ > 0) this.health.restarts += 1;
    this.health.status = 'starting';
    this.sent.clear();
    const proc = new TorchProcess({ python: this.opts.python, device: this.opts.device, threads: this.opts.threads, allowFaults: this.opts.allowFaults });
    this.proc = proc;
    this.readyPromise = new Promise<void>((resolve, reject) => {
      proc.on('stderr', (line: string) => this.opts.onStderr?.(line));
      proc.on('message', (m: TorchMessage) => {
        if (proc !== this.proc) return;
        if (m.kind === 'ready') {
          const { kind: _, ...info } = m;
          this.info = info;
          this.health.status = 'ready';
          this.health.backend = `${info.backend} (${info.device === 'cuda' ? info.deviceName : `${info.threads} threads`}, torch ${info.torch})`;
          proc.hold(this.inFlight.size > 0);
          resolve();
        } else if (m.kind === 'start-failed') {
          reject(new Error(`the torch engine could not start: ${m.error}`));
          this.fail(`torch engine did not start: ${m.error}`);
        } else {
          const p = this.inFlight.get(m.id);
          this.inFlight.delete(m.id);
          if (m.ok) p?.resolve(m.result);
          else {
            p?.reject(m.fatal ? new ComputeUnavailable(`the torch engine failed: ${m.error}`) : new Error(m.error));
            if (m.fatal) this.fail(`torch engine failure: ${m.error}`);
          }
        }
      });
      proc.on('exit', (code: number | null, signal: string | null, stderr: string) => {
        if (proc !== this.proc) return;
        const last = stderr.trim().split('\n').pop();
        const reason = `torch engine exited (${signal ? `signal ${signal}` : `code ${code}`})${last ? `: ${last}` : ''}`;
        reject(new Error(reason));
        if (this.health.status !== 'closed') this.fail(reason);
      });
    });
    this.readyPromise.catch(() => {}); // failures also arrive as 'failed'
    proc.start();
    return this.readyPromise;
  }

  get ready(): Promise<void> {
    return this.readyPromise ?? this.start();
  }

  private call<T>(req: unknown): Promise<T> {
    const proc = this.proc;
    if (!proc || this.health.status !== 'ready') return Promise.reject(new ComputeUnavailable(`the torch engine is ${this.health.status}`));
    const id = this.nextId++;
    const settle = () => {
      if (this.inFlight.size === 0) proc.hold(false);
    };
    return new Promise<T>((resolve, reject) => {
      this.inFlight.set(id, { resolve: resolve as (v: unknown) => void, reject });
      proc.hold(true);
      proc.send({ id, req }).catch((e) => {
        this.inFlight.delete(id);
        reject(new ComputeUnavailable(`the torch engine did not take the request: ${(e as Error).message}`));
      });
    }).finally(settle);
  }

  async request<T>(req: ComputeRequest): Promise<T> {
    await this.ready;
    if (req.op === 'open') {
      // The part's frozen tensors, once per child; then the part, with its initial adapter.
      await this.sendWeights(serverTensorNames(this.opts.config, req.spec.cut));
      const { spec } = req;
      const initAdapter = spec.from ? undefined : initLora(spec.config, spec.lora, spec.cut, spec.config.nLayer, spec.seed);
      return this.call<T>({ op: 'open', key: req.key, spec: { ...spec, ...(initAdapter ? { initAdapter } : {}) } });
    }
    if (req.op === 'open-full') await this.sendWeights(Object.keys(this.opts.weights));
    if (req.op === 'evaluate' || req.op === 'client-file') throw new Error(`torch engine: "${req.op}" runs on the tfjs engine`);
    return this.call<T>(req);
  }

  /** Frozen tensors the child does not hold yet, once per child. */
  private async sendWeights(names: string[]): Promise<void> {
    for (const name of names) {
      if (this.sent.has(name)) continue;
      const t = this.opts.weights[name];
      if (!t) throw new Error(`torch engine: the model has no tensor "${name}"`);
      await this.call({ op: 'weight', name, shape: t.shape, data: t.data });
      this.sent.add(name);
    }
  }

  private fail(reason: string): void {
    if (this.health.status === 'failed' || this.health.status === 'closed') return;
    this.health.status = 'failed';
    this.health.lastFailure = { at: Date.now(), reason };
    const err = new ComputeUnavailable(`the torch engine failed (${reason}); the request was not applied`);
    for (const p of this.inFlight.values()) p.reject(err);
    this.inFlight.clear();
    this.proc?.kill();
    this.emit('failed', reason);
  }

  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exited) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill();
    await gone;
  }

  /** The child's pid (tests kill it from outside, as the OOM killer would). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async close(): Promise<void> {
    this.health.status = 'closed';
    const err = new ComputeUnavailable('the torch engine was closed');
    for (const p of this.inFlight.values()) p.reject(err);
    this.inFlight.clear();
    await this.proc?.close();
    this.proc = null;
  }
}

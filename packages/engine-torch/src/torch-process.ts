// The torch engine's child process and its pipes: `python3 -m splitlora_torch.serve`, with
// frames of a 4-byte little-endian length and one msgpack value each way. Typed arrays cross as
// raw bytes (msgpackr's typed-array extension, which the Python side reads and writes), never as
// lists of floats. This class knows frames and the process's life, not what the requests mean.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { Packr, Unpackr } from 'msgpackr';
import { PYTHON_DIR, type TorchDevice } from './probe';

const packr = new Packr({ useRecords: false, moreTypes: true });
const unpackr = new Unpackr({ useRecords: false });

export interface TorchProcessOptions {
  python: string;
  device: TorchDevice;
  /** Intra-op threads; 0: every core. */
  threads: number;
  allowFaults?: boolean;
}

/** What the child says once torch is up. */
export interface TorchReady {
  backend: string;
  device: 'cpu' | 'cuda';
  deviceName: string;
  threads: number;
  torch: string;
}

export type TorchMessage =
  | ({ kind: 'ready' } & TorchReady)
  | { kind: 'start-failed'; error: string }
  | { kind: 'reply'; id: number; ok: true; result: unknown }
  | { kind: 'reply'; id: number; ok: false; error: string; fatal: boolean };

/** Lines of the child's stderr kept for the failure reason. */
const STDERR_LINES = 20;

/**
 * Events: 'message' (TorchMessage), 'exit' (code, signal, the last lines of stderr), 'stderr' (a line).
 */
export class TorchProcess extends EventEmitter {
  private child: ChildProcess | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private stderrTail: string[] = [];
  exited = false;

  constructor(readonly opts: TorchProcessOptions) {
    super();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const args = ['-m', 'splitlora_torch.serve', '--device', this.opts.device, '--threads', String(this.opts.threads)];
    if (this.opts.allowFaults) args.push('--allow-faults');
    const env = { ...process.env, PYTHONPATH: [PYTHON_DIR, process.env.PYTHONPATH].filter(Boolean).join(':'), PYTHONUNBUFFERED: '1' };
    const child = spawn(this.opts.python, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.child = child;
    child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    let partial = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        this.stderrTail = [...this.stderrTail, line].slice(-STDERR_LINES);
        this.emit('stderr', line);
      }
    });
    // A write to a child that has died fails with EPIPE; the 'exit' event reports the death.
    child.stdin!.on('error', () => {});
    child.on('error', (e) => {
      this.stderrTail.push(e.message);
      this.finish(null, null);
    });
    child.on('exit', (code, signal) => this.finish(code, signal));
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    this.emit('exit', code, signal, this.stderrTail.join('\n'));
  }

  /** The next frame's body length, once its 4 header bytes have arrived; null before. */
  private frameLength: number | null = null;

  // Chunks are kept as they come (64 KiB each from a pipe) and joined once per frame: joining on
  // every chunk would copy a 25 MB reply hundreds of times.
  private onData(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    for (;;) {
      if (this.frameLength === null) {
        if (this.pendingBytes < 4) return;
        const head = this.take(4);
        this.frameLength = head.readUInt32LE(0);
      }
      if (this.pendingBytes < this.frameLength) return;
      const body = this.take(this.frameLength);
      this.frameLength = null;
      this.emit('message', unpackr.unpack(body) as TorchMessage);
    }
  }

  /** The first n pending bytes, removed from the queue. */
  private take(n: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = all.length > n ? [all.subarray(n)] : [];
    this.pendingBytes -= n;
    return all.subarray(0, n);
  }

  /** Sends one message; resolves once the pipe has taken it (so large sends do not pile up in memory). */
  send(message: unknown): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || this.exited) return Promise.reject(new Error('the torch engine process is not running'));
    const body = packr.pack(message);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length, 0);
    stdin.write(head);
    const flushed = stdin.write(body);
    return flushed ? Promise.resolve() : new Promise((resolve) => stdin.once('drain', () => resolve()));
  }

  /**
   * Whether the child keeps Node's event loop alive: only while a request waits for its reply, so
   * that an idle engine never holds a finished command open (the child exits when our pipes close).
   */
  hold(on: boolean): void {
    const child = this.child;
    if (!child || this.exited) return;
    for (const s of [child.stdin, child.stdout, child.stderr] as unknown as ({ ref?: () => void; unref?: () => void } | null)[]) {
      if (on) s?.ref?.();
      else s?.unref?.();
    }
    if (on) child.ref();
    else child.unref();
  }

  /** SIGKILL, as a crash would (tests) or for a stuck child. */
  kill(): void {
    if (!this.exited) this.child?.kill('SIGKILL');
  }

  /** Closes stdin (the child exits at the end of its input), and kills it if it has not gone within `graceMs`. */
  async close(graceMs = 2000): Promise<void> {
    const child = this.child;
    if (!child || this.exited) return;
    const gone = new Promise<void>((resolve) => this.once('exit', () => resolve()));
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }
}

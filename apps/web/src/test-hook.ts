// window.__splitlora: what a test (or the lab's browser runs) can read from the page. Only the
// test build has it (`vite build --mode test`, into dist/web-test: main.ts loads this module
// when import.meta.env.MODE is 'test'); the production build leaves it out.
// Adapters are copied to plain number arrays so that Playwright can return them as JSON.
import * as tf from '@tensorflow/tfjs';
import type { Volunteer, VolunteerEvent, VolunteerStats } from '@splitlora/client';
import type { Socket } from 'socket.io-client';

export type PlainAdapter = Record<string, number[]>;

export type RecordedEvent =
  | { type: 'step'; step: number; loss: number; tokens: number; ms: number }
  | { type: 'uploaded'; round: number; examples: number; adapter: PlainAdapter | null }
  | { type: 'aggregate'; round: number; participants: number; adapter: PlainAdapter | null }
  | { type: 'restored'; step: number; epoch: number; cursor: number }
  | { type: 'failover'; from: string; to: string; reason: string };

function plain(rec: Record<string, { data: Float32Array }>): PlainAdapter {
  return Object.fromEntries(Object.entries(rec).map(([k, t]) => [k, Array.from(t.data)]));
}

/** Where one step's time went, as the page sees it (GPU work is waited for, not just queued). */
export interface StepTiming {
  step: number;
  /** performance.now() when the step started (ms since the page began loading). */
  startedAt: number;
  /** performance.now() at the step's start to the activations leaving the page. */
  forwardMs: number;
  /** Activations sent to the gradient received: the server's step plus the wire. */
  serverMs: number;
  /** Gradient received to the adapter updated (read back, so queued GPU work counts). */
  backwardMs: number;
  /** tf.memory() once the step is done. */
  numTensors: number;
  numBytes: number;
}

export interface ModelLoad {
  fromCache: boolean;
  bytes: number;
  dtype: string;
  resumes: number;
  verified: boolean;
  /** Fetching (and checking) the bytes. */
  downloadMs: number;
  /** Checking the SHA-256, decoding to F32 and making the tensors. */
  decodeMs: number;
}

export class TestHook {
  /** The tfjs backend this page runs on. */
  backend: string | null = null;
  /** Why the page left the backend it first chose (it could not hold the model), or null. */
  backendFallback: string | null = null;
  model: ModelLoad | null = null;
  readonly events: RecordedEvent[] = [];
  readonly timings: StepTiming[] = [];
  /** Highest tf.memory() numBytes / numTensors seen since the page loaded. */
  readonly peak = { numBytes: 0, numTensors: 0 };
  private volunteer: Volunteer | null = null;
  private sentAt = new Map<number, number>();
  private gradientAt = new Map<number, number>();
  private lastStepDone = 0;

  /** `recordAdapters`: keep each uploaded and aggregated adapter (memory grows with rounds). */
  constructor(private readonly recordAdapters: boolean) {}

  attach(v: Volunteer | null): void {
    this.volunteer = v;
  }

  /** Keeps `peak` up to date on every tensor tfjs creates (one comparison each). */
  trackMemoryPeak(): void {
    const engine = tf.engine() as unknown as { trackTensor: (...a: unknown[]) => void; state: { numBytes: number; numTensors: number } };
    const track = engine.trackTensor.bind(engine);
    engine.trackTensor = (...a: unknown[]) => {
      track(...a);
      if (engine.state.numBytes > this.peak.numBytes) this.peak.numBytes = engine.state.numBytes;
      if (engine.state.numTensors > this.peak.numTensors) this.peak.numTensors = engine.state.numTensors;
    };
  }

  /** tf.memory(), or null while the backend is still starting. */
  get memory(): tf.MemoryInfo | null {
    try {
      return tf.memory();
    } catch {
      return null;
    }
  }

  /** Times activations out and gradients in, by step number. */
  watchSocket(socket: Socket): void {
    const emit = socket.emit.bind(socket);
    socket.emit = ((name: string, ...args: unknown[]) => {
      if (name === 'activations') this.sentAt.set((args[0] as { step: number }).step, performance.now());
      return emit(name, ...args);
    }) as typeof socket.emit;
    socket.on('gradient', (m: { step?: number }) => {
      if (typeof m?.step === 'number') this.gradientAt.set(m.step, performance.now());
    });
  }

  /**
   * On a step event (emitted right after the backward pass is queued, before the next step
   * starts): reads back a tensor queued behind the backward pass, so GPU work counts as backward
   * time, not as the next forward's, then files the timing.
   */
  private timeStep(e: Extract<VolunteerEvent, { type: 'step' }>): void {
    const end = performance.now();
    const start = Math.max(end - e.ms, this.lastStepDone);
    const sent = [...this.sentAt.entries()].at(-1);
    const got = [...this.gradientAt.entries()].at(-1);
    this.sentAt.clear();
    this.gradientAt.clear();
    if (!sent || !got) return;
    const m = tf.memory();
    const file = (done: number) => {
      this.lastStepDone = done;
      this.timings.push({ step: e.step, startedAt: start, forwardMs: sent[1] - start, serverMs: got[1] - sent[1], backwardMs: done - got[1], numTensors: m.numTensors, numBytes: m.numBytes });
    };
    // wasm and cpu have computed everything by now; a later callback would also count the next
    // step's (synchronous) forward pass.
    if (tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu') return file(end);
    const fence = tf.tidy(() => tf.sum(tf.fill([256, 256], 1)));
    void fence.data().then(() => {
      fence.dispose();
      file(performance.now());
    });
  }

  get stats(): VolunteerStats | null {
    return this.volunteer ? { ...this.volunteer.stats } : null;
  }

  /** The adapter the client model holds right now. */
  async adapter(): Promise<PlainAdapter | null> {
    const a = await this.volunteer?.adapter();
    return a ? plain(a) : null;
  }

  record(e: VolunteerEvent): void {
    const keep = (a: Record<string, { data: Float32Array }>) => (this.recordAdapters ? plain(a) : null);
    if (e.type === 'step') {
      this.events.push({ type: 'step', step: e.step, loss: e.loss, tokens: e.tokens, ms: e.ms });
      this.timeStep(e);
    }
    else if (e.type === 'uploaded') this.events.push({ type: 'uploaded', round: e.round, examples: e.examples, adapter: keep(e.adapter) });
    else if (e.type === 'aggregate') this.events.push({ type: 'aggregate', round: e.round, participants: e.participants, adapter: keep(e.adapter) });
    else if (e.type === 'failover') this.events.push({ type: 'failover', from: e.from, to: e.to, reason: e.reason });
    else if (e.type === 'restored') this.events.push({ type: 'restored', step: e.state.step, epoch: e.state.dataOrder.epoch, cursor: e.state.dataOrder.cursor });
  }
}

declare global {
  interface Window {
    __splitlora?: TestHook;
  }
}

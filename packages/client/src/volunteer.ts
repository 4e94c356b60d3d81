// A volunteer's side of SplitLoRA over a socket.io connection, the same in a browser tab and in
// an in-process Node client. Per local step: forward the client blocks on a batch of local data,
// send the cut activations (with targets and mask), wait for ∂loss/∂activations, back-propagate
// into the client adapter and step AdamW. After `interval` steps: upload the adapter when asked,
// then continue from the federated average. The training text never leaves this object. With
// the run setting labels "client" (the U-shaped split) this object also runs ln_f, the tied head
// and the loss, and a step is two round trips (stepU): targets, mask and loss stay here too.
// Each upload carries the client's training state (AdamW moments, data-order cursor, step
// count); the server checkpoints it and hands it back in `welcome` after a restart, so the
// client continues exactly from the checkpoint instead of from steps the server has forgotten.
import * as tf from '@tensorflow/tfjs';
import { BatchIterator, fingerprintExamples, makeBatch, type EncodedExample } from '@splitlora/data';
import { ClientModel, SPLITLORA_ADAMW, disposeWeights, type GPT2Config, type Weights } from '@splitlora/model';
import {
  PROTOCOL_VERSION, WIRE_FORMATS, assertWireFinite, decodeTensor, encodeTensor, validate,
  type ClientState, type FrontGradientMessage, type GradientMessage, type RunConfig, type ServerMessageName, type TopMessage, type WelcomeMessage,
} from '@splitlora/protocol';
import { applyDefence, checkDefence, clipRowsBackward, isDefended, newNoiseKey } from './defences';
import { NodeFailover, type FailoverMove, type NodeList } from './failover';
import { wireMeterOf, type WireMeter } from './wire-bytes';
import type { Socket } from 'socket.io-client';

export interface VolunteerStats {
  status: 'connecting' | 'lobby' | 'loading' | 'waiting' | 'training' | 'aggregating' | 'excluded' | 'finished' | 'stopped' | 'error';
  clientId: string | null;
  round: number;
  step: number;
  loss: number | null;
  tokensPerSec: number;
  /** Bytes of the socket.io packets sent and received, as encoded (see wire-bytes.ts); 0 without a WireMeter's parser. */
  bytesUp: number;
  bytesDown: number;
  aggregations: number;
  lastError: string | null;
  /** The node the socket goes to, with a node list (VolunteerOptions.nodes); null with a single socket. */
  node: string | null;
}

export type VolunteerEvent =
  | { type: 'stats'; stats: VolunteerStats }
  | { type: 'step'; step: number; loss: number; tokens: number; ms: number; indices: number[] }
  | { type: 'aggregate'; round: number; participants: number; adapter: Record<string, { shape: number[]; data: Float32Array }> }
  | { type: 'uploaded'; round: number; adapter: Record<string, { shape: number[]; data: Float32Array }>; examples: number; state: ClientState }
  | { type: 'restored'; state: ClientState }
  | { type: 'identity'; identity: VolunteerIdentity }
  /** The run's activation defence (on every welcome): clip rows to `actClip` (null: none), then noise of std `actNoise`. */
  | { type: 'defence'; actClip: number | null; actNoise: number; labels: 'server' | 'client' }
  | { type: 'error'; code: string; message: string }
  /** Moved from node `from` to node `to` (a node list only); it says hello there with its identity. */
  | { type: 'failover'; from: string; to: string; reason: string }
  | { type: 'log'; message: string };

/** Who this volunteer is to the run: keep it (e.g. in sessionStorage) to come back as the same client. */
export interface VolunteerIdentity {
  clientId: string;
  resumeToken: string;
}

export interface VolunteerOptions {
  /** The one socket to the server (reconnects by socket.io's own reconnection). Give this or `nodes`. */
  socket?: Socket;
  /**
   * Cluster nodes to fail over between (see failover.ts). Give this or `socket`. Make each socket
   * with a WireMeter's parser (wire-bytes.ts) for Sent / Received: they are measured, not estimated.
   */
  nodes?: NodeList;
  examples: EncodedExample[];
  backend: string;
  userAgent: string;
  /** Loads the client submodel (embeddings + blocks [0, cut)) for this run. */
  loadModel: (welcome: WelcomeMessage) => Promise<{ config: GPT2Config; weights: Weights }>;
  onEvent?: (e: VolunteerEvent) => void;
  /** Data order and dropout seed. */
  seed?: number;
  /** Longest wait for one gradient before the step is given up. */
  stepTimeoutMs?: number;
  /** Come back as this client (from an earlier 'identity' event); refused or unknown → join as new. */
  identity?: VolunteerIdentity | null;
  /**
   * Secret key of the activation noise (run setting actNoise, NOISE_KEY_BYTES bytes); never sent.
   * Keep it with the identity: a step redone after a restart then sends the same noise, so the
   * server cannot average two draws. Default: a fresh one from the CSPRNG.
   */
  noiseKey?: Uint8Array;
}

/** The LoRA dropout seed of local step `step` (0-based) of a volunteer whose data-order seed is `seed`. */
export function stepDropoutSeed(seed: number, step: number): number {
  return (seed * 7919 + step * 104729 + 1) % 2147483647;
}

/**
 * Lets queued events (socket messages, UI updates) run before the loop goes on. A message, not a
 * timer: browsers throttle timers in hidden tabs (Chrome: to one wake-up a second, and chained
 * timers to one a minute once hidden for long; measured here after about a minute), and a
 * volunteer's tab must keep its pace in the background. Message events are not throttled.
 */
export function yieldToEventLoop(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((r) => setTimeout(r, 0));
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

/**
 * How long a step may wait for its gradient. Long: a GPT-2 S server step with several clients on a
 * CPU backend takes minutes, and a dead server is noticed sooner by the socket's heartbeat, which
 * the server answers from its main thread while its compute worker is busy.
 */
const DEFAULT_STEP_TIMEOUT_MS = 15 * 60_000;

/** Waits before asking again for a refused identity; after the last, the volunteer joins as new. */
const IDENTITY_RETRIES_MS = [1000, 2000, 4000];
/**
 * The same after a failover: the run keeps the old socket until the node left behind is seen to be
 * gone (killed: its 3 s heartbeat key expires, later on a loaded coordinator; a cut link: the node's
 * ping timeout, 25 + 60 s by default), and this object, not a copy of its tab, is the rightful
 * owner. So it asks once a second for 30 s, then every 5 s up to 100 s in all: one small hello each.
 */
const FAILOVER_IDENTITY_RETRIES_MS = [...Array<number>(30).fill(1000), ...Array<number>(14).fill(5000)];

/** After a lost step, wait this long before the next try (error path only, never between steps). */
const LOST_STEP_BACKOFF_MS = 500;

/** The server refused a step (an `error` reply): retrying the same batch would be refused again. */
class StepRefused extends Error {}

export class Volunteer {
  readonly stats: VolunteerStats = { status: 'connecting', clientId: null, round: 0, step: 0, loss: null, tokensPerSec: 0, bytesUp: 0, bytesDown: 0, aggregations: 0, lastError: null, node: null };
  /** The socket now: opts.socket, or the failover's current one. */
  private socket: Socket | null;
  private readonly failover: NodeFailover | null = null;
  /** This connection's welcome has arrived (no step goes out before it). */
  private welcomed = false;
  private resumeToken: string | null = null;
  private runId: string | null = null;
  private config: RunConfig | null = null;
  private model: ClientModel | null = null;
  /** The frozen base weights under `model` (loaded per run; this object frees them). */
  private weights: Weights | null = null;
  private modelKey = '';
  private runState = 'waiting';
  private stepsInRound = 0;
  private uploadRound: number | null = null;
  private excluded = false;
  private looping = false;
  private kickedWhileLooping = false;
  /** The wire meters of the sockets used so far, with the counts already added to stats. */
  private readonly meters = new Map<WireMeter, { sent: number; received: number }>();
  private statsQueued = false;
  /** After stop() no stats go out: the page shows "not joined", not the closing packets' count. */
  private stopped = false;
  /** Retries of a refused identity on this connection (see the E_AUTH handler). */
  private identityRetries = 0;
  private pending: { step: number; resolve: (g: GradientMessage) => void; reject: (e: Error) => void } | null = null;
  /** U-shaped split (labels "client"): the reply this step waits for, h_L ('top') or ∂loss/∂h_k ('grad'). */
  private pendingU: { step: number; phase: 'top' | 'grad'; resolve: (m: TopMessage | FrontGradientMessage) => void; reject: (e: Error) => void } | null = null;
  private batches: BatchIterator;
  private readonly fingerprint: string;
  /**
   * Local steps in this run's training state: seeds the dropout masks and rewinds with a restored
   * state. (stats.step counts the steps this object took, for display, and never goes back.)
   */
  private localStep = 0;
  /** Batches skipped in a row because truncation left them no completion token. */
  private emptySkips = 0;

  /** The activation noise's secret key (see VolunteerOptions.noiseKey). */
  private readonly noiseKey: Uint8Array;

  constructor(private readonly opts: VolunteerOptions) {
    if (opts.examples.length === 0) throw new Error('volunteer: no training examples');
    if (!opts.socket === !opts.nodes) throw new Error('volunteer: give either a socket or a node list (nodes), not both or neither');
    this.socket = opts.socket ?? null;
    if (opts.nodes) {
      this.failover = new NodeFailover(opts.nodes, (move) => this.onMove(move));
      this.stats.node = this.failover.url;
    }
    this.noiseKey = opts.noiseKey ?? newNoiseKey();
    checkDefence({ noiseKey: this.noiseKey });
    this.batches = new BatchIterator(opts.examples.length, 1, { seed: opts.seed ?? 0 });
    this.fingerprint = fingerprintExamples(opts.examples);
    if (opts.identity) {
      this.stats.clientId = opts.identity.clientId;
      this.resumeToken = opts.identity.resumeToken;
    }
  }

  private emit(e: VolunteerEvent): void {
    this.opts.onEvent?.(e);
  }

  private setStatus(status: VolunteerStats['status']): void {
    this.stats.status = status;
    this.emit({ type: 'stats', stats: { ...this.stats } });
  }

  private send(name: string, msg: object): void {
    this.socket!.emit(name, msg);
  }

  /**
   * Counts the bytes of this socket's packets in the stats, when it was made with a WireMeter's
   * parser: all of them, those before this volunteer started included (the connect handshake),
   * so give each volunteer its own meter.
   */
  private meter(s: Socket): void {
    const m = wireMeterOf(s);
    if (!m || this.meters.has(m)) return;
    this.meters.set(m, { sent: 0, received: 0 });
    const take = () => {
      const last = this.meters.get(m)!;
      this.stats.bytesUp += m.sent - last.sent;
      this.stats.bytesDown += m.received - last.received;
      this.meters.set(m, { sent: m.sent, received: m.received });
    };
    take();
    m.onChange(() => {
      take();
      // One stats event for a burst of packets, after the counting parser has returned.
      if (this.statsQueued) return;
      this.statsQueued = true;
      queueMicrotask(() => {
        this.statsQueued = false;
        if (!this.stopped) this.emit({ type: 'stats', stats: { ...this.stats } });
      });
    });
  }

  /** Attaches the handlers and says hello (again on every reconnect, and on each node it fails over to). */
  start(): void {
    if (this.failover) this.socket = this.failover.open();
    this.attach(this.socket!);
  }

  /** The socket to the last node is given up for one to the next: say hello there as the same client. */
  private onMove(move: FailoverMove): void {
    this.socket = move.socket;
    this.stats.node = move.to;
    this.welcomed = false;
    this.pending?.reject(new Error(`moved to node ${move.to}`));
    this.pendingU?.reject(new Error(`moved to node ${move.to}`));
    this.emit({ type: 'failover', from: move.from, to: move.to, reason: move.reason });
    this.setStatus('connecting');
    this.attach(move.socket);
  }

  private attach(s: Socket): void {
    this.meter(s);
    const on = <N extends ServerMessageName>(name: N, fn: (m: ReturnType<typeof validate<N>>) => void | Promise<void>) => {
      s.on(name as string, async (payload: unknown) => {
        try {
          await fn(validate(name, payload));
        } catch (e) {
          this.fail(e);
        }
      });
    };
    on('welcome', (m) => this.onWelcome(m));
    on('run-state', (m) => {
      this.runState = m.state;
      if (m.state === 'finished' || m.state === 'stopped') this.setStatus(m.state);
      else if (m.state === 'waiting' && this.model) this.setStatus('waiting');
      this.kick();
    });
    on('gradient', (m) => {
      if (this.pending && this.pending.step === m.step) this.pending.resolve(m);
    });
    on('top', (m) => {
      if (this.pendingU?.phase === 'top' && this.pendingU.step === m.step) this.pendingU.resolve(m);
    });
    on('front-gradient', (m) => {
      if (this.pendingU?.phase === 'grad' && this.pendingU.step === m.step) this.pendingU.resolve(m);
    });
    on('aggregate-request', (m) => {
      this.uploadRound = m.round;
      this.kick();
    });
    on('aggregate', async (m) => {
      this.model?.loadAdapter(m.tensors);
      this.stats.round = m.round + 1;
      this.stats.aggregations += 1;
      this.stepsInRound = 0;
      this.uploadRound = null;
      this.excluded = false;
      this.emit({ type: 'aggregate', round: m.round, participants: m.participants, adapter: m.tensors });
      this.kick();
    });
    on('excluded', (m) => {
      this.excluded = true;
      this.setStatus('excluded');
      this.emit({ type: 'log', message: `left out of round ${m.round}: ${m.reason}` });
    });
    on('error', (m) => {
      const retries = this.failover?.moves ? FAILOVER_IDENTITY_RETRIES_MS : IDENTITY_RETRIES_MS;
      if (m.code === 'E_AUTH' && this.stats.status === 'lobby' && this.stats.clientId !== null && this.identityRetries < retries.length) {
        // A reloaded page can say hello before the server has seen its old connection close: ask
        // again a few times before giving the identity up (an error path, so timers are fine here).
        const wait = retries[this.identityRetries++];
        this.emit({ type: 'log', message: `identity refused (${m.message}); asking again in ${wait / 1000} s` });
        setTimeout(() => {
          if (this.socket === s && s.connected) this.hello();
        }, wait);
        return;
      }
      if (m.code === 'E_AUTH' && this.stats.status === 'lobby' && this.stats.clientId !== null) {
        // Still refused: another tab holds it (a duplicated tab copies sessionStorage): come in as a new client.
        this.emit({ type: 'log', message: `joining as a new volunteer: ${m.message}` });
        this.stats.clientId = null;
        this.resumeToken = null;
        this.hello();
        return;
      }
      this.stats.lastError = `${m.code}: ${m.message}`;
      this.emit({ type: 'error', code: m.code, message: m.message });
      // A compute failure refuses no batch: the server restarts the round and this step is redone.
      this.pending?.reject(m.code === 'E_COMPUTE' ? new Error(`${m.code}: ${m.message}`) : new StepRefused(`${m.code}: ${m.message}`));
      // A top-gradient the server can no longer match (its forward was dropped) means: redo the step.
      const redo = m.code === 'E_COMPUTE' || (m.code === 'E_ORDER' && this.pendingU?.phase === 'grad');
      this.pendingU?.reject(redo ? new Error(`${m.code}: ${m.message}`) : new StepRefused(`${m.code}: ${m.message}`));
    });
    s.on('connect', () => {
      this.identityRetries = 0;
      this.welcomed = false;
      this.hello();
    });
    s.on('disconnect', () => {
      this.welcomed = false;
      this.pending?.reject(new Error('disconnected'));
      this.pendingU?.reject(new Error('disconnected'));
      this.setStatus('connecting');
    });
    if (s.connected) this.hello();
  }

  stop(): void {
    this.stopped = true;
    if (this.failover) this.failover.close();
    else this.socket?.disconnect();
    this.dropModel();
  }

  private dropModel(): void {
    this.model?.dispose();
    if (this.weights) disposeWeights(this.weights);
    this.model = null;
    this.weights = null;
  }

  private hello(): void {
    this.setStatus('lobby');
    this.send('hello', {
      v: PROTOCOL_VERSION,
      ...(this.stats.clientId && this.resumeToken ? { clientId: this.stats.clientId, resumeToken: this.resumeToken } : {}),
      backend: this.opts.backend,
      userAgent: this.opts.userAgent.slice(0, 512),
      examples: this.opts.examples.length,
      wireFormats: [...WIRE_FORMATS],
    });
  }

  private async onWelcome(m: WelcomeMessage): Promise<void> {
    this.stats.clientId = m.clientId;
    this.resumeToken = m.resumeToken;
    this.emit({ type: 'identity', identity: { clientId: m.clientId, resumeToken: m.resumeToken } });
    this.runId = m.runId;
    this.config = m.config;
    this.emit({ type: 'defence', actClip: m.config.actClip ?? null, actNoise: m.config.actNoise ?? 0, labels: m.config.labels ?? 'server' });
    const key = `${m.runId}`;
    if (!this.model || this.modelKey !== key) {
      this.setStatus('loading');
      this.dropModel();
      const { config, weights } = await this.opts.loadModel(m);
      this.weights = weights;
      const lora = { ...m.config.lora, targets: m.config.lora.targets as never };
      this.model = new ClientModel(config, weights, m.config.cut, { lora, optimizer: { lr: m.config.lr, ...SPLITLORA_ADAMW }, seed: m.config.seed, adapter: m.adapter?.tensors });
      this.modelKey = key;
      this.localStep = 0;
      this.batches = new BatchIterator(this.opts.examples.length, 1, { seed: this.opts.seed ?? 0 });
    } else if (m.adapter) {
      this.model.loadAdapter(m.adapter.tensors);
    }
    if (m.state) this.restore(m.state);
    this.stats.round = m.round;
    this.stepsInRound = 0;
    this.uploadRound = null;
    this.excluded = false;
    this.welcomed = true;
    this.setStatus('waiting');
    this.kick();
  }

  /** Continues from the training state the server checkpointed for this client, if it is ours. */
  private restore(state: ClientState): void {
    const d = state.dataOrder;
    if (d.examples !== this.opts.examples.length || d.fingerprint !== this.fingerprint) {
      this.emit({ type: 'log', message: 'the server holds a training state for other data; keeping this one' });
      return;
    }
    this.batches = new BatchIterator(d.examples, 1, { epoch: d.epoch, cursor: d.cursor, seed: d.seed });
    this.model!.optimizer.importState(state.optimizer);
    this.localStep = state.step;
    this.emit({ type: 'restored', state });
    this.emit({ type: 'log', message: `continuing from the server's checkpoint: local step ${state.step}, epoch ${d.epoch}` });
  }

  /** What the server checkpoints for this client (see ClientStateSchema). */
  private async trainingState(): Promise<ClientState> {
    return {
      step: this.localStep,
      optimizer: await this.model!.optimizer.exportState(),
      dataOrder: { ...this.batches.state, examples: this.opts.examples.length, fingerprint: this.fingerprint },
    };
  }

  private fail(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    this.stats.lastError = message;
    this.emit({ type: 'log', message: `error: ${message}` });
  }

  /** Runs the step loop until it has to wait for the server. */
  private kick(): void {
    // A kick that lands while the loop is ending (several messages in one socket read) must not be lost.
    if (this.looping) {
      this.kickedWhileLooping = true;
      return;
    }
    this.looping = true;
    this.kickedWhileLooping = false;
    void this.loop()
      .catch((e) => this.fail(e))
      .finally(() => {
        this.looping = false;
        if (this.kickedWhileLooping) this.kick();
      });
  }

  private async loop(): Promise<void> {
    while (this.model && this.config && this.welcomed && this.socket?.connected && this.runState === 'training') {
      if (this.uploadRound !== null && this.uploadRound === this.stats.round) {
        await this.upload();
        continue;
      }
      if (this.excluded || this.stepsInRound >= this.config.interval) {
        this.setStatus('aggregating');
        return;
      }
      this.setStatus('training');
      await this.step();
    }
  }

  private async upload(): Promise<void> {
    const round = this.uploadRound!;
    this.uploadRound = null;
    const adapter = await this.model!.adapter();
    const state = await this.trainingState();
    this.send('adapter', { v: PROTOCOL_VERSION, runId: this.runId!, round, examples: this.opts.examples.length, localSteps: this.stepsInRound, tensors: adapter, state });
    this.emit({ type: 'uploaded', round, adapter, examples: this.opts.examples.length, state });
  }

  private async step(): Promise<void> {
    const cfg = this.config!;
    const model = this.model!;
    const t0 = performance.now();
    // The data order advances only when the step lands (below), so a lost step is retried on the
    // same batch and the order stays in step with the optimizer state.
    const order = new BatchIterator(this.opts.examples.length, 1, this.batches.state);
    const indices: number[] = [];
    while (indices.length < cfg.batch) indices.push(...order.next().indices);
    const b = makeBatch(indices.map((i) => this.opts.examples[i]), { maxLen: cfg.seqLen });
    if (!b.mask.some((m) => m > 0)) {
      // seqLen cut off every completion: nothing to learn from, so skip it (as any run on this data would).
      this.batches = order;
      if (++this.emptySkips >= this.opts.examples.length) {
        this.setStatus('error');
        throw new Error(`no batch has a completion token within the run's sequence length ${cfg.seqLen}: the prompts are too long for it`);
      }
      this.emit({ type: 'log', message: `skipped a batch: sequence length ${cfg.seqLen} cuts off all its completions` });
      await yieldToEventLoop();
      return;
    }
    this.emptySkips = 0;
    const step = this.localStep;
    const seed = stepDropoutSeed(this.batches.state.seed, step);
    // Targets outside the loss mask (the prompt) would reveal text without helping training.
    const targets = b.targets.map((t, j) => (b.mask[j] > 0 ? t : 50256));
    const acts = model.forward(b.ids, b.batch, b.seqLen, seed);
    const data = (await acts.data()) as Float32Array;
    acts.dispose();
    // Clip, then noise keyed by the secret and the step: a retried step sends the same bytes.
    const defence = { actClip: cfg.actClip, actNoise: cfg.actNoise, noiseKey: this.noiseKey };
    const sent = isDefended(defence) ? applyDefence(Float32Array.from(data), cfg.dModel, defence, step) : data;
    if (cfg.labels === 'client') return this.stepU(b, indices, order, step, seed, data, sent, t0);
    const reply = new Promise<GradientMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no gradient from the server in time')), this.opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS);
      this.pending = {
        step,
        resolve: (g) => { clearTimeout(timer); resolve(g); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
    this.send('activations', {
      v: PROTOCOL_VERSION, runId: this.runId!, step, round: this.stats.round, batch: b.batch, seqLen: b.seqLen,
      acts: encodeTensor({ shape: [b.batch, b.seqLen, cfg.dModel], data: sent }, cfg.wire.acts), targets, mask: b.mask,
    });
    let g: GradientMessage;
    try {
      g = await reply;
    } catch (e) {
      // The step is lost; the loop decides what comes next. A batch the server refused is skipped,
      // one lost to a disconnect or timeout is tried again.
      if (e instanceof StepRefused) this.batches = order;
      this.fail(e);
      await new Promise((r) => setTimeout(r, LOST_STEP_BACKOFF_MS));
      return;
    } finally {
      this.pending = null;
    }
    // Never back-propagate a broken gradient into the adapter.
    assertWireFinite('gradient.grad', g.grad);
    const want = [b.batch, b.seqLen, cfg.dModel];
    if (g.grad.shape.join() !== want.join()) throw new Error(`gradient has shape [${g.grad.shape}], expected [${want}]`);
    this.finishStep(model, b, seed, data, decodeTensor(g.grad), order, g.loss, indices, t0);
  }

  /**
   * Back-propagates the server's gradient at the cut into the client adapter and counts the step.
   * The gradient is w.r.t. the rows the server received; the clip's Jacobian carries it back to the
   * clean rows (exact, not straight-through: a clipped row's gradient shrinks by C/|a| and loses its
   * radial part).
   */
  private finishStep(model: ClientModel, b: ReturnType<typeof makeBatch>, seed: number, data: Float32Array, grad: { data: Float32Array; shape: number[] }, order: BatchIterator, loss: number, indices: number[], t0: number): void {
    const cfg = this.config!;
    if (cfg.actClip !== undefined) clipRowsBackward(data, grad.data, cfg.dModel, cfg.actClip);
    const gradT = tf.tensor(grad.data, grad.shape);
    model.backward(b.ids, b.batch, b.seqLen, seed, gradT);
    gradT.dispose();
    const ms = performance.now() - t0;
    const tokens = b.batch * b.seqLen;
    this.batches = order;
    this.localStep += 1;
    this.stepsInRound += 1;
    this.stats.step += 1;
    this.stats.loss = loss;
    this.stats.tokensPerSec = tokens / (ms / 1000);
    this.emit({ type: 'step', step: this.stats.step, loss, tokens, ms, indices });
    this.emit({ type: 'stats', stats: { ...this.stats } });
  }

  /** Sends one message of a U-shaped step and waits for the server's answer to it. */
  private exchange<M extends TopMessage | FrontGradientMessage>(phase: 'top' | 'grad', step: number, send: () => void): Promise<M> {
    return new Promise<M>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${phase === 'top' ? 'top' : 'front-gradient'} from the server in time`)), this.opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS);
      this.pendingU = {
        step, phase,
        resolve: (m) => { clearTimeout(timer); resolve(m as M); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      send();
    }).finally(() => { this.pendingU = null; });
  }

  /**
   * One U-shaped step (labels "client"): h_k up, h_L down; ln_f, the tied head, the loss and
   * ∂loss/∂h_L here; that up, ∂loss/∂h_k down; backward into the client adapter. Target ids, the
   * mask and the loss stay in this object. `data` is the forward output, `sent` what went up.
   */
  private async stepU(b: ReturnType<typeof makeBatch>, indices: number[], order: BatchIterator, step: number, seed: number, data: Float32Array, sent: Float32Array, t0: number): Promise<void> {
    const cfg = this.config!;
    const model = this.model!;
    const shape = [b.batch, b.seqLen, cfg.dModel];
    let fg: FrontGradientMessage;
    let loss: number;
    try {
      const top = await this.exchange<TopMessage>('top', step, () => this.send('front', {
        v: PROTOCOL_VERSION, runId: this.runId!, step, round: this.stats.round, batch: b.batch, seqLen: b.seqLen,
        acts: encodeTensor({ shape, data: sent }, cfg.wire.acts),
      }));
      assertWireFinite('top.top', top.top);
      if (top.top.shape.join() !== shape.join()) throw new Error(`top has shape [${top.top.shape}], expected [${shape}]`);
      const topT = tf.tensor(decodeTensor(top.top).data, shape);
      const head = model.topGrad(topT, b.targets, b.mask, cfg.smoothing ?? 0);
      topT.dispose();
      loss = (await head.loss.data())[0];
      const gradTop = (await head.gradTop.data()) as Float32Array;
      tf.dispose([head.loss, head.gradTop]);
      if (!Number.isFinite(loss)) throw new StepRefused(`the loss of step ${step} is not finite; its batch is skipped`);
      fg = await this.exchange<FrontGradientMessage>('grad', step, () => this.send('top-gradient', {
        v: PROTOCOL_VERSION, runId: this.runId!, step, grad: encodeTensor({ shape, data: gradTop }, cfg.wire.grad),
      }));
    } catch (e) {
      // As in step(): a refused batch is skipped; a lost one (disconnect, compute restart, dropped forward) is redone.
      if (e instanceof StepRefused) this.batches = order;
      this.fail(e);
      await new Promise((r) => setTimeout(r, LOST_STEP_BACKOFF_MS));
      return;
    }
    assertWireFinite('front-gradient.grad', fg.grad);
    if (fg.grad.shape.join() !== shape.join()) throw new Error(`front-gradient has shape [${fg.grad.shape}], expected [${shape}]`);
    this.finishStep(model, b, seed, data, decodeTensor(fg.grad), order, loss, indices, t0);
  }

  /** The client adapter now (for tests and the page's download button). */
  async adapter() {
    return this.model ? this.model.adapter() : null;
  }
}

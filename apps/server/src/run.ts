// One training run: SplitLoRA steps through the ServerEngine, rounds through the federation
// package's RoundTracker/StepDeadline, and FedAvg of the clients' adapters every `interval` local
// steps. Transport-free: the socket layer validates messages and calls in here; the run answers
// through each client's `send`. Failures (disconnects, deadlines) are ordinary events.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { FedAvgStrategy, RobustStrategy, RoundTracker, StepDeadline, type RoundOutcome, type Strategy } from '@splitlora/federation';
import { initLora, type GPT2Config, type LoraConfig, type TensorRecord } from '@splitlora/model';
import {
  PROTOCOL_VERSION, ProtocolError, checkActivations, checkAdapter, checkFront, checkTopGradient,
  type ActivationsMessage, type AdapterMessage, type FrontMessage, type TopGradientMessage, type ClientState, type HelloMessage, type RunConfig, type RunStateName,
  type ServerMessageName, type Message,
} from '@splitlora/protocol';
import type { ServerEngine } from './engine';
import type { RunSettings } from './settings';
import { admitStep, type StepPosition } from './step-admission';
import { localSteps, type StepExecution } from './step-execution';

export type Send = <N extends ServerMessageName>(name: N, msg: Message<N>) => void;

export interface ClientRecord {
  id: string;
  resumeToken: string;
  backend: string;
  userAgent: string;
  examples: number;
  connected: boolean;
  send: Send;
  /** Local steps in the current round. */
  stepsInRound: number;
  steps: number;
  tokens: number;
  bytesUp: number;
  bytesDown: number;
  lastLoss: number | null;
  /** Tokens per second over this client's recent steps (server clock, network included). */
  tokensPerSec: number | null;
  firstSeen: number;
  lastSeen: number;
  /** When its last gradient went out (for tokensPerSec). */
  lastStepAt: number | null;
  inFlight: boolean;
  /** U-shaped split: the step whose h_L went out and whose ∂loss/∂h_L the server waits for. */
  pendingTop?: { step: number; shape: number[]; at: number } | null;
  /** Rounds this client was dropped from (it waits for the next aggregate). */
  excludedRound: number | null;
}

export interface RunMetric {
  /** "throughput" samples come from the recorder (persistence.ts), not from the run itself. */
  kind: 'step' | 'round' | 'client' | 'state' | 'throughput';
  at: number;
  [k: string]: unknown;
}

/** What a run resumed from a checkpoint starts with (see run-manager.ts). */
export interface RunRestore {
  createdAt: number;
  /** The round counter to continue from (the checkpointed round + 1). */
  round: number;
  globalStep: number;
  /** The averaged client adapter of the checkpoint. */
  average: TensorRecord;
  /** A run that was paused stays paused until the operator resumes it. */
  paused: boolean;
  /** Known clients (disconnected until they say hello with their resume token again). */
  clients: Omit<ClientRecord, 'connected' | 'send' | 'stepsInRound' | 'lastStepAt' | 'inFlight' | 'excludedRound'>[];
  /** The checkpointed round's participants' own training states, returned to them on resume. */
  clientStates?: Record<string, ClientState>;
}

/** One aggregation, as the after-aggregation stages and the 'aggregated' observers see it. */
export interface AggregatedEvent {
  round: number;
  average: TensorRecord;
  participants: string[];
  /** The training states that go with `average` (its aggregation's participants', as uploaded). */
  states: Record<string, ClientState>;
  /** The run's counters when the round closed (the checkpoint records these). */
  globalStep: number;
  at: number;
  clients: Record<string, { steps: number; tokens: number }>;
}

/**
 * What happens after an aggregation, before the average goes out: in the cluster, averaging the
 * server replicas; then the checkpoint (and restore point). The run runs them in the order it was
 * given, each after the previous one has finished, and broadcasts last; no step is admitted
 * meanwhile.
 */
export interface AggregationStage {
  name: string;
  run(e: AggregatedEvent): Promise<void>;
}

export interface RunOptions {
  id?: string;
  settings: RunSettings;
  modelId: string;
  config: GPT2Config;
  cut: number;
  /** The run's server part: its state, snapshots and restore point. */
  engine: ServerEngine;
  /** How admitted steps are executed; default: on `engine`, here. */
  steps?: StepExecution;
  now?: () => number;
  /** Largest L2 norm accepted for one adapter tensor. */
  maxAdapterNorm?: number;
  restore?: RunRestore;
}

export function newRunId(): string {
  return `run-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export class Run extends EventEmitter {
  readonly id: string;
  readonly settings: RunSettings;
  readonly createdAt: number;
  state: RunStateName | 'paused' = 'waiting';
  round = 0;
  globalStep = 0;
  readonly clients = new Map<string, ClientRecord>();
  /** The current federated average of the client adapters (starts as the shared init). */
  average: TensorRecord;
  readonly lora: LoraConfig;
  private readonly tracker: RoundTracker;
  private readonly deadlines: StepDeadline;
  private readonly strategy: Strategy;
  private readonly now: () => number;
  private readonly steps: StepExecution;
  private afterAggregation: AggregationStage[] = [];
  /** The stages and broadcast of the aggregation under way. */
  private closingRound: Promise<void> | null = null;
  /** Compute restarts so far: one during the stages means the clients were already welcomed back. */
  private computeRestarts = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** A resumed run waits for minClients again before its first round, like a new one. */
  private quorumGate: boolean;
  /** Training states uploaded with this round's adapters. */
  private roundStates = new Map<string, ClientState>();
  /**
   * The training states that go with `average`: those of the participants of the aggregation that
   * made it. A client that (re)joins gets the average and, if it has one here, its own state.
   */
  private averageStates = new Map<string, ClientState>();
  /** Counters when the current round opened: a round restarted after a compute failure goes back to them. */
  private roundStart: { globalStep: number; clients: Map<string, { steps: number; tokens: number }> } = { globalStep: 0, clients: new Map() };
  /** Set while the compute worker is being restarted: the state to return to afterwards. */
  private computeHold: { resumeTo: RunStateName | 'paused'; reason: string } | null = null;

  constructor(readonly opts: RunOptions) {
    super();
    this.id = opts.id ?? newRunId();
    this.settings = opts.settings;
    this.steps = opts.steps ?? localSteps(opts.engine, (reason) => `the server's compute failed (${reason}); the step was not applied. The round restarts from the last aggregate once it is back`);
    this.now = opts.now ?? Date.now;
    const s = this.settings;
    this.lora = { r: s.lora.r, alpha: s.lora.alpha, dropout: s.lora.dropout, targets: s.lora.targets as LoraConfig['targets'] };
    this.average = initLora(opts.config, this.lora, 0, opts.cut, s.seed);
    this.tracker = new RoundTracker({ now: this.now, uploadTimeoutMs: s.stepDeadlineMs });
    this.deadlines = new StepDeadline({ now: this.now, timeoutMs: s.stepDeadlineMs });
    this.strategy = s.aggregation === 'fedavg' ? new FedAvgStrategy() : new RobustStrategy({ rule: s.aggregation, trim: s.trim });
    this.createdAt = opts.restore?.createdAt ?? this.now();
    this.quorumGate = true;
    const r = opts.restore;
    if (r) {
      this.round = r.round;
      this.globalStep = r.globalStep;
      this.average = r.average;
      if (r.paused) this.state = 'paused';
      this.averageStates = new Map(Object.entries(r.clientStates ?? {}));
      for (const c of r.clients) {
        this.clients.set(c.id, { ...c, connected: false, send: () => {}, stepsInRound: 0, lastStepAt: null, inFlight: false, excludedRound: null });
      }
    }
  }

  /** What follows each aggregation, in order (set once, by whoever builds the run). */
  setAfterAggregation(stages: AggregationStage[]): void {
    this.afterAggregation = stages;
  }

  /** What a client needs to train. */
  clientConfig(): RunConfig {
    const s = this.settings;
    return {
      modelId: this.opts.modelId,
      dModel: this.opts.config.nEmbd,
      cut: this.opts.cut,
      lora: { ...this.lora, targets: [...this.lora.targets] },
      batch: s.batch,
      seqLen: s.seqLen,
      interval: s.interval,
      wire: { acts: s.wire, grad: s.wire },
      lr: s.clientLr,
      seed: s.seed,
      ...(s.labels === 'client' ? { labels: 'client' as const, smoothing: s.labelSmoothing } : {}),
      ...(s.actClip !== undefined ? { actClip: s.actClip } : {}),
      ...(s.actNoise ? { actNoise: s.actNoise } : {}),
    };
  }

  adapterShapes(): Record<string, number[]> {
    return Object.fromEntries(Object.entries(this.average).map(([k, t]) => [k, t.shape]));
  }

  // ---- lifecycle ------------------------------------------------------------------------

  /** Starts the tick timer; training begins once minClients are connected. */
  start(): void {
    this.timer ??= setInterval(() => this.tick(), 200);
    this.maybeBegin();
  }

  pause(): void {
    if (this.computeHold) this.computeHold.resumeTo = 'paused';
    else if (this.state === 'training' || this.state === 'aggregating') this.setState('paused');
  }

  /** The compute worker failed: pause (reason "compute") until resumeAfterCompute. */
  holdForCompute(reason: string): void {
    if (!this.active) return;
    if (!this.computeHold) this.computeHold = { resumeTo: this.state, reason };
    this.state = 'paused';
    this.emit('metric', { kind: 'state', at: this.now(), state: 'paused', round: this.round, reason: 'compute', detail: reason } satisfies RunMetric);
    this.broadcastState();
  }

  /**
   * The server part is back at its restore point (the start of this round): restart the round from
   * there. Counters go back to the round's start, and every connected client gets the average and
   * its own state again in a fresh `welcome`, so its local steps of this round are redone.
   */
  resumeAfterCompute(): void {
    const hold = this.computeHold;
    if (!hold || !this.active) return;
    this.computeHold = null;
    this.computeRestarts += 1;
    this.deadlines.clear();
    this.globalStep = this.roundStart.globalStep;
    for (const [id, c] of this.roundStart.clients) Object.assign(this.clients.get(id) ?? {}, c);
    this.roundStates.clear();
    for (const c of this.connected()) {
      c.inFlight = false;
      c.pendingTop = null; // the new worker holds no forward: the client redoes the step
      this.welcome(c, true);
    }
    this.emit('metric', { kind: 'state', at: this.now(), state: hold.resumeTo, round: this.round, event: 'compute-restored', globalStep: this.globalStep } satisfies RunMetric);
    const inRound = this.tracker.round !== null;
    if (inRound) this.openRound(true);
    if (inRound && hold.resumeTo !== 'paused') {
      this.setState('training');
    } else if (hold.resumeTo === 'paused') {
      this.setState('paused');
    } else {
      this.setState('waiting');
      this.maybeBegin();
    }
  }

  /** Why the run is held, while its compute restarts. */
  get computeHoldReason(): string | null {
    return this.computeHold?.reason ?? null;
  }

  resume(): void {
    if (this.state !== 'paused') return;
    if (this.computeHold) {
      // The run goes on by itself once its compute is back; until then the operator's resume is kept.
      this.computeHold.resumeTo = this.tracker.round === null ? 'waiting' : 'training';
      return;
    }
    if (this.tracker.round === null) {
      // Paused between rounds (e.g. restored from a checkpoint while paused): wait for clients.
      this.setState('waiting');
      this.maybeBegin();
      return;
    }
    this.setState('training');
    for (const c of this.connected()) if (this.tracker.isExpected(c.id)) this.deadlines.arm(c.id);
  }

  stop(): void {
    if (this.state === 'finished' || this.state === 'stopped') return;
    this.tracker.abort('stopped');
    this.setState('stopped');
    this.close();
  }

  /** Stops the clock. After this, departures are only noted (a server shutting down must not close rounds). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.closed = true;
  }

  get active(): boolean {
    return this.state !== 'finished' && this.state !== 'stopped';
  }

  private setState(state: RunStateName | 'paused'): void {
    this.state = state;
    this.emit('metric', { kind: 'state', at: this.now(), state, round: this.round } satisfies RunMetric);
    this.broadcastState();
  }

  broadcastState(): void {
    for (const c of this.connected()) c.send('run-state', this.stateMessage());
  }

  stateMessage(): Message<'run-state'> {
    // The wire protocol knows no "paused": to a volunteer a paused run is one that waits.
    const state = this.state === 'paused' ? 'waiting' : this.state;
    return { v: PROTOCOL_VERSION, runId: this.id, state, round: this.round, globalStep: this.globalStep, clients: this.connected().length };
  }

  connected(): ClientRecord[] {
    return [...this.clients.values()].filter((c) => c.connected);
  }

  private maybeBegin(): void {
    if (this.state !== 'waiting') return;
    const ready = this.connected().filter((c) => c.examples > 0).length;
    if (ready < (this.quorumGate ? this.settings.minClients : 1)) return;
    this.quorumGate = false;
    this.openRound();
    this.setState('training');
  }

  /** Opens round `this.round` (again from scratch with `restart`: see resumeAfterCompute). */
  private openRound(restart = false): void {
    const expected = this.connected().filter((c) => c.examples > 0).map((c) => c.id);
    if (restart) this.tracker.restart(this.round, expected);
    else this.tracker.open(this.round, expected);
    this.roundStates.clear();
    this.roundStart = { globalStep: this.globalStep, clients: new Map([...this.clients.values()].map((c) => [c.id, { steps: c.steps, tokens: c.tokens }])) };
    for (const c of this.clients.values()) {
      c.stepsInRound = 0;
      c.excludedRound = null;
      this.dropTop(c); // a U-shaped forward left over from the closed round (its client was dropped)
    }
    for (const id of expected) this.deadlines.arm(id);
  }

  // ---- client events --------------------------------------------------------------------

  /** A validated hello. Returns the client record (new or resumed) and sends `welcome`. */
  hello(msg: HelloMessage, send: Send): ClientRecord {
    let rec: ClientRecord | undefined;
    let resumed = false;
    if (msg.clientId !== undefined) {
      // An id this run never issued (e.g. from an earlier run) just joins as a new client; a
      // known id needs its own resume token, so nobody can take over someone else's record.
      const known = this.clients.get(msg.clientId);
      if (known && known.resumeToken !== msg.resumeToken) {
        throw new ProtocolError('E_AUTH', 'the resume token does not match this client id; connect without a clientId to join as a new client');
      }
      if (known?.connected) throw new ProtocolError('E_AUTH', 'this client id is connected on another socket');
      if (known) {
        rec = known;
        resumed = true;
      }
    }
    if (!rec) {
      const id = `c-${randomBytes(4).toString('hex')}`;
      rec = {
        id, resumeToken: randomBytes(16).toString('hex'), backend: msg.backend, userAgent: msg.userAgent, examples: msg.examples,
        connected: true, send, stepsInRound: 0, steps: 0, tokens: 0, bytesUp: 0, bytesDown: 0, lastLoss: null, tokensPerSec: null,
        firstSeen: this.now(), lastSeen: this.now(), lastStepAt: null, inFlight: false, excludedRound: null,
      };
      this.clients.set(id, rec);
    }
    Object.assign(rec, { connected: true, send, backend: msg.backend, userAgent: msg.userAgent, examples: msg.examples, lastSeen: this.now(), lastStepAt: null, inFlight: false });
    // A (re)joining client starts from the current average and takes part from the next round.
    rec.stepsInRound = 0;
    rec.excludedRound = this.tracker.isExpected(rec.id) ? rec.excludedRound : null;
    this.welcome(rec, resumed);
    this.emit('metric', { kind: 'client', at: this.now(), event: resumed ? 'resumed' : 'joined', clientId: rec.id, backend: rec.backend } satisfies RunMetric);
    this.maybeBegin();
    return rec;
  }

  /**
   * The average and, for a returning client, its own state from the aggregation that made it: after
   * a server restart (or a reload, a dropped connection, a compute restart) it continues exactly
   * from there.
   */
  private welcome(rec: ClientRecord, resumed: boolean): void {
    const state = resumed ? this.averageStates.get(rec.id) : undefined;
    rec.send('welcome', {
      v: PROTOCOL_VERSION, clientId: rec.id, resumeToken: rec.resumeToken, resumed, runId: this.id, round: this.round,
      config: this.clientConfig(), adapter: { round: this.round, tensors: this.average }, ...(state ? { state } : {}),
    });
    rec.send('run-state', this.stateMessage());
  }

  disconnect(rec: ClientRecord): void {
    rec.connected = false;
    this.dropTop(rec);
    if (this.closed) return;
    this.deadlines.disarm(rec.id);
    if (this.tracker.fail(rec.id, 'disconnect')) this.emit('metric', { kind: 'client', at: this.now(), event: 'dropped', clientId: rec.id, round: this.round, reason: 'disconnect' } satisfies RunMetric);
    this.emit('metric', { kind: 'client', at: this.now(), event: 'left', clientId: rec.id } satisfies RunMetric);
    this.tick();
  }

  /** One SplitLoRA step for this client: returns when the gradient has been sent. */
  async activations(rec: ClientRecord, msg: ActivationsMessage, bytes: number): Promise<void> {
    admitStep('activations', msg, this.position(rec), this.settings);
    const cfg = this.opts.config;
    checkActivations(msg, { dModel: cfg.nEmbd, maxBatch: this.settings.batch, maxSeqLen: this.settings.seqLen, vocabSize: cfg.vocabSize });
    const mask = msg.mask instanceof Float32Array ? msg.mask : Float32Array.from(msg.mask);
    rec.inFlight = true;
    this.deadlines.disarm(rec.id);
    try {
      const reply = await this.steps.step({ clientId: rec.id, round: msg.round, acts: msg.acts, targets: msg.targets, mask }, this.settings.wire);
      // The compute answers asynchronously: the run may have ended while this step ran.
      if (!this.active) throw new ProtocolError('E_ORDER', `the run ${this.state} while this step was computed; it is not counted`);
      if (!Number.isFinite(reply.loss)) throw new ProtocolError('E_NONFINITE', 'the server loss for this batch is not finite; the step was not applied to this client');
      const tokens = msg.batch * msg.seqLen;
      this.countStep(rec, tokens, bytes, reply.loss);
      rec.bytesDown += reply.grad.data.byteLength + 64;
      rec.send('gradient', { v: PROTOCOL_VERSION, runId: this.id, step: msg.step, grad: reply.grad, loss: reply.loss });
      this.afterStep(rec, tokens, reply.loss);
    } finally {
      rec.inFlight = false;
    }
  }

  /** Where this client stands, for the step admission rules. */
  private position(rec: ClientRecord): StepPosition {
    // While an aggregation's stages run, the next round is not open yet.
    return { runId: this.id, state: this.closingRound ? 'aggregating' : this.state, round: this.round, excludedRound: rec.excludedRound, inFlight: rec.inFlight, stepsInRound: rec.stepsInRound };
  }

  /** Frees a U-shaped client's held forward (the server keeps at most one per client). */
  private dropTop(rec: ClientRecord): void {
    if (!rec.pendingTop) return;
    rec.pendingTop = null;
    this.steps.drop(rec.id).catch(() => {}); // a dead worker held nothing anyway
  }

  /**
   * U-shaped round trip 1: blocks [k, L) on the client's h_k; sends h_L back as `top`. The server
   * holds the input until `top-gradient` (or drops it on a new front, a disconnect or the deadline).
   */
  async front(rec: ClientRecord, msg: FrontMessage, bytes: number): Promise<void> {
    admitStep('front', msg, this.position(rec), this.settings);
    const cfg = this.opts.config;
    checkFront(msg, { dModel: cfg.nEmbd, maxBatch: this.settings.batch, maxSeqLen: this.settings.seqLen });
    rec.pendingTop = null; // a new front replaces an unanswered one (the compute replaces its held input too)
    rec.inFlight = true;
    this.deadlines.disarm(rec.id);
    try {
      const reply = await this.steps.forward({ clientId: rec.id, step: msg.step, acts: msg.acts }, this.settings.wire);
      if (!this.active) throw new ProtocolError('E_ORDER', `the run ${this.state} while this step was computed; it is not counted`);
      rec.pendingTop = { step: msg.step, shape: reply.shape, at: this.now() };
      if (!rec.connected) return this.dropTop(rec); // it left while its forward ran
      rec.bytesUp += bytes;
      rec.bytesDown += reply.top.data.byteLength + 64;
      rec.send('top', { v: PROTOCOL_VERSION, runId: this.id, step: msg.step, top: reply.top });
      // The client owes ∂loss/∂h_L now: the step deadline runs again.
      if (this.tracker.isExpected(rec.id)) this.deadlines.arm(rec.id);
    } finally {
      rec.inFlight = false;
    }
  }

  /**
   * U-shaped round trip 2: ∂loss/∂h_L for the held forward; the server back-propagates, steps its
   * adapter and sends ∂loss/∂h_k as `front-gradient`. No loss reaches the server: its step metric
   * has loss null.
   */
  async topGradient(rec: ClientRecord, msg: TopGradientMessage, bytes: number): Promise<void> {
    admitStep('top-gradient', msg, this.position(rec), this.settings);
    const pending = rec.pendingTop;
    if (!pending || pending.step !== msg.step) {
      throw new ProtocolError('E_ORDER', `top-gradient for step ${msg.step}, but ${pending ? `step ${pending.step}'s top` : 'no top'} is waiting for one; send front again`);
    }
    checkTopGradient(msg, pending.shape);
    rec.pendingTop = null;
    rec.inFlight = true;
    this.deadlines.disarm(rec.id);
    try {
      const reply = await this.steps.backward({ clientId: rec.id, step: msg.step, grad: msg.grad }, this.settings.wire);
      if (!this.active) throw new ProtocolError('E_ORDER', `the run ${this.state} while this step was computed; it is not counted`);
      if (!reply) throw new ProtocolError('E_ORDER', `the server no longer holds the forward of step ${msg.step} (its compute restarted or it timed out); send front again`);
      const [B, T] = pending.shape;
      this.countStep(rec, B * T, bytes, null);
      rec.bytesDown += reply.grad.data.byteLength + 64;
      rec.send('front-gradient', { v: PROTOCOL_VERSION, runId: this.id, step: msg.step, grad: reply.grad });
      this.afterStep(rec, B * T, null);
    } finally {
      rec.inFlight = false;
    }
  }

  /**
   * A step a cluster node computed for this client (cluster/coordinator.ts): the node checked the
   * order and sent the gradient; the run counts it as its own. As in activations, a step whose
   * round closed while it was computed counts in the round that is open now (its client counts it
   * there too); older ones are ignored.
   */
  recordRemoteStep(rec: ClientRecord, step: { round: number; tokens: number; bytesUp: number; bytesDown: number; loss: number }): void {
    if (this.state !== 'training' || (step.round !== this.round && step.round !== this.round - 1) || rec.excludedRound === this.round) return;
    this.countStep(rec, step.tokens, step.bytesUp, step.loss);
    rec.bytesDown += step.bytesDown;
    this.afterStep(rec, step.tokens, step.loss);
  }

  /** A step landed: the client's and the run's counters. */
  private countStep(rec: ClientRecord, tokens: number, bytes: number, loss: number | null): void {
    rec.stepsInRound += 1;
    rec.steps += 1;
    rec.tokens += tokens;
    rec.bytesUp += bytes;
    if (loss !== null) rec.lastLoss = loss;
    const now = this.now();
    if (rec.lastStepAt !== null && now > rec.lastStepAt) {
      const tps = (tokens * 1000) / (now - rec.lastStepAt);
      rec.tokensPerSec = rec.tokensPerSec === null ? tps : 0.7 * rec.tokensPerSec + 0.3 * tps; // smoothed over ~3 steps
    }
    rec.lastStepAt = now;
    rec.lastSeen = now;
    this.globalStep += 1;
  }

  /** The step metric, the deadline for the next step, and the upload request after the round's last step. */
  private afterStep(rec: ClientRecord, tokens: number, loss: number | null): void {
    this.emit('metric', { kind: 'step', at: this.now(), clientId: rec.id, round: this.round, step: rec.steps, globalStep: this.globalStep, loss, tokens } satisfies RunMetric);
    if (rec.connected && this.tracker.isExpected(rec.id)) {
      this.deadlines.arm(rec.id);
      if (rec.stepsInRound === this.settings.interval) {
        rec.send('aggregate-request', { v: PROTOCOL_VERSION, runId: this.id, round: this.round, deadlineMs: this.settings.stepDeadlineMs });
      }
    }
  }

  adapter(rec: ClientRecord, msg: AdapterMessage, bytes: number): void {
    if (msg.runId !== this.id) throw new ProtocolError('E_ORDER', `adapter for run ${msg.runId}, but the current run is ${this.id}`);
    if (msg.round !== this.round) throw new ProtocolError('E_ORDER', `adapter for round ${msg.round}, but the current round is ${this.round}`);
    if (rec.stepsInRound < this.settings.interval) throw new ProtocolError('E_ORDER', `adapter sent after ${rec.stepsInRound} of ${this.settings.interval} steps; wait for aggregate-request`);
    checkAdapter(msg, this.adapterShapes(), { maxNorm: this.opts.maxAdapterNorm ?? 1e3, maxExamples: rec.examples });
    const verdict = this.tracker.submit(rec.id, msg.round, { tensors: msg.tensors, examples: msg.examples });
    if (!verdict.ok) throw new ProtocolError('E_ORDER', `adapter rejected: ${verdict.message}`);
    if (msg.state) this.roundStates.set(rec.id, msg.state);
    rec.bytesUp += bytes;
    this.deadlines.disarm(rec.id);
    this.tick();
  }

  // ---- time -------------------------------------------------------------------------------

  /** Drops overdue clients and closes the round when it is settled. Called on events and by a timer. */
  tick(): void {
    if (this.state === 'paused') return;
    for (const c of this.clients.values()) {
      if (c.pendingTop && this.now() - c.pendingTop.at > this.settings.stepDeadlineMs) this.dropTop(c);
    }
    for (const id of this.deadlines.expired()) {
      if (this.tracker.fail(id, 'deadline')) {
        const rec = this.clients.get(id);
        if (rec) {
          rec.excludedRound = this.round;
          rec.send('excluded', { v: PROTOCOL_VERSION, runId: this.id, round: this.round, reason: `no step for ${this.settings.stepDeadlineMs} ms (step deadline); you will receive the next aggregate` });
        }
        this.emit('metric', { kind: 'client', at: this.now(), event: 'dropped', clientId: id, round: this.round, reason: 'deadline' } satisfies RunMetric);
      }
    }
    if (this.state !== 'training') return;
    const outcome = this.tracker.tick();
    if (outcome) this.finishRound(outcome);
  }

  private finishRound(outcome: RoundOutcome): void {
    const agg = this.strategy.aggregate(outcome.round, outcome.results, outcome.failures);
    if (agg.tensors) {
      this.average = agg.tensors;
      this.averageStates = new Map(agg.participants.flatMap((id) => (this.roundStates.has(id) ? [[id, this.roundStates.get(id)!] as const] : [])));
    }
    this.roundStates.clear();
    this.emit('metric', {
      kind: 'round', at: this.now(), round: outcome.round, participants: agg.participants.length, failures: outcome.failures.map((f) => `${f.clientId}:${f.reason}`),
      closedBy: outcome.closedBy, aggregated: agg.tensors !== null, reason: agg.reason, openedAt: outcome.openedAt, globalStep: this.globalStep,
    } satisfies RunMetric);
    const event: AggregatedEvent = {
      round: outcome.round, average: this.average, participants: agg.participants, states: Object.fromEntries(this.averageStates), globalStep: this.globalStep, at: this.now(),
      clients: Object.fromEntries([...this.clients.values()].map((c) => [c.id, { steps: c.steps, tokens: c.tokens }])),
    };
    this.emit('aggregated', event);
    this.round += 1;
    // No held U-shaped forward of the closed round may be finished while the stages run.
    for (const c of this.clients.values()) this.dropTop(c);
    const restarts = this.computeRestarts;
    this.closingRound = this.runStages(event)
      .then(() => this.broadcastAggregate(event, restarts))
      .finally(() => { this.closingRound = null; });
  }

  /** The after-aggregation stages, one after the other; a failed stage is logged as a metric and the next one runs. */
  private async runStages(e: AggregatedEvent): Promise<void> {
    for (const stage of this.afterAggregation) {
      try {
        await stage.run(e);
      } catch (err) {
        this.emit('metric', { kind: 'state', at: this.now(), state: this.state, round: e.round, event: 'stage-failed', stage: stage.name, detail: (err as Error)?.message ?? String(err) } satisfies RunMetric);
      }
    }
  }

  /** The last stage of every aggregation: the average goes out, and the next round opens. */
  private broadcastAggregate(e: AggregatedEvent, restarts: number): void {
    // Stopped meanwhile, or a compute restart has already welcomed every client with this average.
    if (this.state === 'stopped' || restarts !== this.computeRestarts) return;
    // After the last round, say "finished" before the final average, so no client starts a step.
    const last = this.round >= this.settings.rounds;
    if (last) this.setState('finished');
    for (const c of this.connected()) {
      c.send('aggregate', { v: PROTOCOL_VERSION, runId: this.id, round: e.round, tensors: this.average, participants: e.participants.length });
      c.bytesDown += Object.values(this.average).reduce((s, t) => s + t.data.byteLength, 0);
    }
    if (last) {
      this.close();
      return;
    }
    if (this.state !== 'training') return; // paused meanwhile: resume() opens the round
    // minClients gates the start only; afterwards the run goes on with whoever is still there.
    if (!this.connected().some((c) => c.examples > 0)) {
      this.setState('waiting'); // maybeBegin opens the next round when someone is back
      return;
    }
    this.openRound();
    this.broadcastState();
  }

  /** Resolves when the aggregation under way (if any) has run its stages and gone out (tests). */
  async settled(): Promise<void> {
    while (this.closingRound) await this.closingRound;
  }
}

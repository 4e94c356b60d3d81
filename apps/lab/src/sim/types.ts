// Shared types of the simulation and benchmark: what one method's run produces, and the
// settings every method shares (same data, partition, seeds and hyper-parameters).
import type { EncodedExample, TextExample } from '@splitlora/data';
import type { GPT2Config, LoraConfig, TensorRecord } from '@splitlora/model';
import type { WireFormat } from '@splitlora/protocol';

export type Method = 'cen' | 'split' | 'fed';
export const METHODS: readonly Method[] = ['cen', 'split', 'fed'];
export const METHOD_NAMES: Record<Method, string> = { cen: 'CenLoRA', split: 'SplitLoRA', fed: 'FedLoRA' };

/** The base model every method starts from (frozen weights, keyed by Hugging Face names). */
export interface SimModel {
  id: string;
  config: GPT2Config;
  weights: TensorRecord;
}

/** Training settings shared by all methods. */
export interface TrainSettings {
  clients: number;
  /** Cut layer k (SplitLoRA): the client holds blocks [0, k). */
  cut: number;
  lora: LoraConfig;
  /** Local steps between aggregations (I). */
  interval: number;
  /** Local steps per client (S); a multiple of interval. CenLoRA takes clients·S steps. */
  steps: number;
  batch: number;
  /** Longest sequence per row (tokens). */
  seqLen: number;
  /** AdamW learning rate, constant, for every optimiser (clients, server, central). */
  lr: number;
  labelSmoothing: number;
  wire: WireFormat;
  seed: number;
  /** SplitLoRA: "client" is the U-shaped split (the volunteers compute the loss); default "server". */
  labels?: 'server' | 'client';
  /** Defence (SplitLoRA): volunteers clip each uploaded activation row to this L2 norm. */
  actClip?: number;
  /** Defence (SplitLoRA): then add Gaussian noise of this std to every uploaded activation. */
  actNoise?: number;
  /** Evaluate the held-out loss every this many aggregation rounds (and at the end). */
  evalEvery: number;
}

/** Training shards (one per client), their text (for browser tabs and data-upload cost) and held-out data. */
export interface SimData {
  shards: EncodedExample[][];
  shardText: TextExample[][];
  heldout: EncodedExample[];
  heldoutText: TextExample[];
  /** e.g. "built-in synthetic E2E (600 examples, seed 0)" or a file path. */
  source: string;
}

/** A snapshot of the whole model's adapter, for the held-out curve. */
export interface Checkpoint {
  /** Σ over clients of local steps so far (= CenLoRA steps): batches of B examples processed. */
  globalStep: number;
  /** Aggregations so far (CenLoRA: the equivalent round). */
  round: number;
  /** Measured milliseconds since the method's training started. */
  wallMs: number;
  /** Client average ∪ server adapter (SplitLoRA), the FedAvg (FedLoRA) or the model's (CenLoRA). */
  adapter: TensorRecord;
}

/** What running one method produced. */
export interface MethodRun {
  method: Method;
  mode: 'in-process' | 'browser';
  clients: number;
  /** Local steps per client (CenLoRA: its own step count). */
  stepsPerClient: number;
  aggregations: number;
  /** Training loss (label-smoothed) per client per local step. */
  losses: number[][];
  checkpoints: Checkpoint[];
  /** Per client, on the wire (WebSocket payload + frame headers); FedLoRA/CenLoRA: modelled bytes of the same protocol. */
  bytesUp: number[];
  bytesDown: number[];
  /** tfjs backend per client. */
  backends: string[];
  wallSeconds: number;
  /** Mean and largest batch length T over all steps (for FLOPs and memory). */
  meanSeqLen: number;
  maxSeqLen: number;
}

/** Progress callbacks: a step anywhere, and a note for the log. */
export interface RunHooks {
  onStep?: (done: number, total: number, loss: number) => void;
  log?: (message: string) => void;
}

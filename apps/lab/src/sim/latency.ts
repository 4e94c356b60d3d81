// The latency model: how long each method would take on real devices and links, from its FLOPs
// and bytes. Assumptions (stated in report.md and in `splitlora bench --help`):
//  - compute time = FLOPs / rate; FLOPs are matmul FLOPs (cost-model.ts) at a sustained rate;
//  - a message takes bytes·8 / bandwidth; every request/reply exchange adds one round trip;
//  - all clients are identical and run in parallel, in lock-step rounds (the round lasts as long
//    as any one client); each client has its own link (the server's link is not a bottleneck);
//  - SplitLoRA: per local step a client computes its forward pass, sends the activations, the
//    server computes the server part for all N clients' activations (one after another at the
//    server rate: N·server FLOPs), sends the gradients back, and the client recomputes its forward
//    pass and back-propagates. Nothing overlaps. Every I steps: adapter up, average down, one RTT;
//  - SplitLoRA U-shaped (labels "client"): two round trips per step (h_k up, h_L down; ∂h_L up,
//    ∂h_k down), the client also runs ln_f + the tied head + the loss, the server recomputes its
//    blocks' forward in backward;
//  - FedLoRA: per local step a client runs the whole model; every I steps the whole adapter up,
//    the average down, one RTT. Averaging time is negligible;
//  - CenLoRA: the data is already on one central machine (its one-off upload is counted in bytes,
//    not in time), which takes all N·S steps one after another at the central rate.
import type { Method } from './types';

export interface LatencyParams {
  /** Sustained FLOP/s of one client device. */
  clientFlops: number;
  /** Sustained FLOP/s of the SplitLoRA server. */
  serverFlops: number;
  /** Sustained FLOP/s of CenLoRA's central machine. */
  centralFlops: number;
  /** Client → server, bits per second, per client. */
  uplinkBps: number;
  /** Server → client, bits per second, per client. */
  downlinkBps: number;
  /** Round-trip time, seconds. */
  rttSeconds: number;
}

/**
 * Named defaults, illustrative rather than measured: a browser tab on a laptop GPU through tfjs
 * WebGPU (0.5 TFLOP/s sustained), a data-centre GPU running tfjs-node-gpu in float32 (20 TFLOP/s
 * sustained), and a home broadband link (20 Mbit/s up, 100 Mbit/s down, 50 ms round trip).
 * CenLoRA's central machine defaults to the client rate (one client-class device with all the data).
 */
export const DEFAULT_LATENCY = {
  clientTflops: 0.5,
  serverTflops: 20,
  uplinkMbps: 20,
  downlinkMbps: 100,
  rttMs: 50,
} as const;

export function latencyParams(p: { clientTflops: number; serverTflops: number; centralTflops: number; uplinkMbps: number; downlinkMbps: number; rttMs: number }): LatencyParams {
  return {
    clientFlops: p.clientTflops * 1e12, serverFlops: p.serverTflops * 1e12, centralFlops: p.centralTflops * 1e12,
    uplinkBps: p.uplinkMbps * 1e6, downlinkBps: p.downlinkMbps * 1e6, rttSeconds: p.rttMs / 1000,
  };
}

/** One method's work, per client. */
export interface MethodWork {
  method: Method;
  clients: number;
  /** Local steps per client (S). */
  steps: number;
  /** Local steps between aggregations (I). */
  interval: number;
  /** FLOPs of one local step on a client (SplitLoRA: client part incl. the recomputed forward). */
  clientStepFlops: number;
  /** FLOPs the server (SplitLoRA) or the central machine (CenLoRA) spends per client step. */
  serverStepFlops: number;
  stepUpBytes: number;
  stepDownBytes: number;
  aggUpBytes: number;
  aggDownBytes: number;
  /** Request/reply exchanges per local step (SplitLoRA: 1; U-shaped: 2). Default 1. */
  stepRoundTrips?: number;
}

export interface ModelledTime {
  /** One local step (CenLoRA: one central step). */
  stepSeconds: number;
  /** Of stepSeconds: client compute, server/central compute, transfers + RTT. */
  clientComputeSeconds: number;
  serverComputeSeconds: number;
  commSeconds: number;
  /** One aggregation (transfer + RTT); 0 for CenLoRA. */
  aggregationSeconds: number;
  totalSeconds: number;
}

export function modelledTime(w: MethodWork, p: LatencyParams): ModelledTime {
  const tx = (up: number, down: number) => (8 * up) / p.uplinkBps + (8 * down) / p.downlinkBps;
  const rounds = w.steps / w.interval;
  if (w.method === 'cen') {
    const step = w.serverStepFlops / p.centralFlops;
    return { stepSeconds: step, clientComputeSeconds: 0, serverComputeSeconds: step, commSeconds: 0, aggregationSeconds: 0, totalSeconds: w.clients * w.steps * step };
  }
  const client = w.clientStepFlops / p.clientFlops;
  const server = w.method === 'split' ? (w.clients * w.serverStepFlops) / p.serverFlops : 0;
  const comm = w.method === 'split' ? tx(w.stepUpBytes, w.stepDownBytes) + (w.stepRoundTrips ?? 1) * p.rttSeconds : 0;
  const step = client + server + comm;
  const agg = tx(w.aggUpBytes, w.aggDownBytes) + p.rttSeconds;
  return { stepSeconds: step, clientComputeSeconds: client, serverComputeSeconds: server, commSeconds: comm, aggregationSeconds: agg, totalSeconds: w.steps * step + rounds * agg };
}

/**
 * Modelled seconds when `globalStep` batches (Σ over clients) have been processed, at a round
 * boundary for SplitLoRA and FedLoRA (that is where checkpoints are taken).
 */
export function modelledTimeAt(w: MethodWork, t: ModelledTime, globalStep: number): number {
  if (w.method === 'cen') return globalStep * t.stepSeconds;
  const local = globalStep / w.clients;
  return local * t.stepSeconds + Math.floor(local / w.interval + 1e-9) * t.aggregationSeconds;
}

/**
 * When a curve first reaches `target` (perplexity), interpolating linearly between the two
 * points around the crossing; null if it never does. Points are (seconds, perplexity).
 */
export function timeToTarget(points: readonly { seconds: number; perplexity: number }[], target: number): number | null {
  for (let i = 0; i < points.length; i++) {
    if (points[i].perplexity > target) continue;
    if (i === 0) return points[0].seconds;
    const a = points[i - 1];
    const b = points[i];
    const f = (a.perplexity - target) / (a.perplexity - b.perplexity);
    return a.seconds + f * (b.seconds - a.seconds);
  }
  return null;
}

// Whether a volunteer's step message may be computed now: one set of rules, pure, used by the
// single server's Run and by a cluster node (which checks against what the coordinator told the
// socket). Each refusal is an E_ORDER ProtocolError that says what the client should do.
import { ProtocolError } from '@splitlora/protocol';

export type StepKind = 'activations' | 'front' | 'top-gradient';

/** Where one client stands in the run, as the server (or a node's mirror of it) sees it. */
export interface StepPosition {
  runId: string | null;
  state: string;
  round: number;
  /** The round this client was left out of (it waits for the aggregate). */
  excludedRound: number | null;
  /** Its previous step is still being computed. */
  inFlight: boolean;
  stepsInRound: number;
}

export interface StepRules {
  /** Local steps per round (I). */
  interval: number;
  /** "client": the U-shaped split (front/top-gradient); otherwise SplitLoRA's activations. */
  labels?: 'server' | 'client';
}

/** Throws the ProtocolError that refuses this step, or returns when it may be computed. */
export function admitStep(kind: StepKind, msg: { runId: string; round?: number }, at: StepPosition, rules: StepRules): void {
  const uShaped = rules.labels === 'client';
  if (kind === 'activations' && uShaped) throw new ProtocolError('E_ORDER', 'this run keeps the labels in the page (labels "client"): send front, without targets or mask');
  if (kind !== 'activations' && !uShaped) throw new ProtocolError('E_ORDER', 'this run computes the loss on the server (labels "server"): send activations with targets and mask');
  if (msg.runId !== at.runId) throw new ProtocolError('E_ORDER', `${kind} for run ${msg.runId}, but the current run is ${at.runId}`);
  if (at.state !== 'training') throw new ProtocolError('E_ORDER', `the run is ${at.state}; wait for run-state "training"`);
  // top-gradient answers a held forward, so it carries no round of its own.
  if (msg.round !== undefined && msg.round !== at.round) throw new ProtocolError('E_ORDER', `${kind} for round ${msg.round}, but the current round is ${at.round}; wait for the aggregate`);
  if (at.excludedRound === at.round) throw new ProtocolError('E_ORDER', `this client was left out of round ${at.round}; wait for the aggregate`);
  if (at.inFlight) throw new ProtocolError('E_ORDER', 'the previous step is still being processed; wait for its gradient');
  if (at.stepsInRound >= rules.interval) throw new ProtocolError('E_ORDER', `all ${rules.interval} steps of round ${at.round} are done; upload the adapter and wait for the aggregate`);
}

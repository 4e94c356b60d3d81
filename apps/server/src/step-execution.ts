// How a run's admitted steps are executed, chosen once when the run (or a node's replica) is
// built: on the local server part (through its ServerEngine and whichever compute engine serves
// it, tfjs or torch), forwarded to the node that owns the server model (cluster/node.ts), or
// refused (a coordinator whose server model lives on a node). Requests and replies are wire
// tensors, so a forwarded step is neither decoded nor re-encoded on the way.
import { ProtocolError, decodeTensor, encodeTensor, type WireFormat, type WireTensor } from '@splitlora/protocol';
import { ComputeUnavailable, type ServerEngine } from './engine';

export interface WireStep {
  clientId: string;
  /** The round the client computed it in (a forwarded step waits for the owner to reach it). */
  round: number;
  /** [B, T, d] */
  acts: WireTensor;
  targets: Int32Array;
  mask: Float32Array;
}

export interface StepExecution {
  /** One SplitLoRA step: the loss and ∂loss/∂acts, encoded as `wire`. */
  step(req: WireStep, wire: WireFormat): Promise<{ loss: number; grad: WireTensor }>;
  /** U-shaped round trip 1: h_L for h_k (the server holds the input until `backward`). */
  forward(req: { clientId: string; step: number; acts: WireTensor }, wire: WireFormat): Promise<{ top: WireTensor; shape: number[] }>;
  /** U-shaped round trip 2: ∂loss/∂h_k for ∂loss/∂h_L, or null when no forward is held for it. */
  backward(req: { clientId: string; step: number; grad: WireTensor }, wire: WireFormat): Promise<{ grad: WireTensor } | null>;
  /** Frees a client's held U-shaped forward. */
  drop(clientId: string): Promise<void>;
}

/**
 * Steps on this process's server part. `failed` words the E_COMPUTE refusal when the compute
 * service is down (the step was not applied; the client redoes it after the restart).
 */
export function localSteps(engine: ServerEngine, failed: (reason: string) => string): StepExecution {
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      if (e instanceof ComputeUnavailable) throw new ProtocolError('E_COMPUTE', failed(e.message));
      throw e;
    }
  };
  return {
    step: (req, wire) => guard(async () => {
      const r = await engine.submit({ clientId: req.clientId, acts: decodeTensor(req.acts), targets: req.targets, mask: req.mask });
      return { loss: r.loss, grad: encodeTensor(r.grad, wire) };
    }),
    forward: (req, wire) => guard(async () => {
      const r = await engine.submitForward({ clientId: req.clientId, step: req.step, acts: decodeTensor(req.acts) });
      return { top: encodeTensor(r.top, wire), shape: r.top.shape };
    }),
    backward: (req, wire) => guard(async () => {
      const r = await engine.submitBackward({ clientId: req.clientId, step: req.step, grad: decodeTensor(req.grad) });
      return r && { grad: encodeTensor(r.grad, wire) };
    }),
    drop: (clientId) => engine.dropHeld(clientId),
  };
}

/** Every step refused with E_ORDER and `message` (the server model is elsewhere). */
export function refusedSteps(message: string): StepExecution {
  const refuse = () => Promise.reject(new ProtocolError('E_ORDER', message));
  return { step: refuse, forward: refuse, backward: refuse, drop: async () => {} };
}

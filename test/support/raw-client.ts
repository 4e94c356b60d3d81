// A raw protocol client for fault and attack tests: it speaks the wire protocol by hand, so it
// can send what a real volunteer never would.
import { PROTOCOL_VERSION, encodeTensor, type Message } from '@splitlora/protocol';
import type { Socket } from 'socket.io-client';
import { TINY } from '../kit/tiny';
import { socketTo, waitFor } from './server-harness';

/** A raw protocol client: records every server message. */
export function rawClient(base: string) {
  const socket = socketTo(base);
  const got: { name: string; msg: any }[] = [];
  socket.onAny((name, msg) => got.push({ name, msg }));
  const next = async (name: string, after = 0) => {
    await waitFor(() => got.slice(after).some((g) => g.name === name), 20_000, `a "${name}" message`);
    return got.slice(after).find((g) => g.name === name)!.msg;
  };
  const errorAfter = async (send: () => void) => {
    const n = got.length;
    send();
    return (await next('error', n)) as Message<'error'>;
  };
  return { socket, got, next, errorAfter };
}

export function hello(socket: Socket, extra: Record<string, unknown> = {}) {
  socket.emit('hello', { v: PROTOCOL_VERSION, backend: 'raw', userAgent: 'test', examples: 5, wireFormats: ['f32'], ...extra });
}

export function activations(welcome: Message<'welcome'>, step: number, over: Partial<Record<string, unknown>> = {}) {
  const B = 2, T = 8, d = TINY.nEmbd;
  return {
    v: PROTOCOL_VERSION, runId: welcome.runId, step, round: welcome.round, batch: B, seqLen: T,
    acts: encodeTensor({ shape: [B, T, d], data: new Float32Array(B * T * d).fill(0.1) }, 'f32'),
    targets: new Int32Array(B * T).fill(11), mask: new Float32Array(B * T).fill(1), ...over,
  };
}

// A fixed order for the server's steps: volunteer sockets take turns, 0, 1, …, n−1, 0, …, and each
// sends its next activations only after the one before it got its gradient. The server model's
// trajectory depends on the order it sees different volunteers' steps in; with this order two runs
// on different topologies (1 node, 2 nodes) feed it the same sequence and can be compared exactly.
// Only `activations` waits: hello, uploads and the rest go out at once.
import type { Socket } from 'socket.io-client';

export function lockstep(sockets: Socket[]): void {
  let turn = 0;
  const waiting = new Map<number, () => void>();
  sockets.forEach((s, i) => {
    const emit = s.emit.bind(s) as (ev: string, ...args: unknown[]) => Socket;
    s.emit = ((ev: string, ...args: unknown[]) => {
      if (ev !== 'activations') return emit(ev, ...args);
      if (turn === i) emit(ev, ...args);
      else waiting.set(i, () => emit(ev, ...args));
      return s;
    }) as Socket['emit'];
    s.on('gradient', () => {
      turn = (turn + 1) % sockets.length;
      const next = waiting.get(turn);
      waiting.delete(turn);
      next?.();
    });
  });
}

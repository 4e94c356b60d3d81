// The volunteer's loop yields with a message, not a timer: timers are what browsers throttle in
// hidden tabs. With every timer frozen, a timer-based yield would never come back.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { yieldToEventLoop } from './volunteer';

afterEach(() => {
  vi.useRealTimers();
});

describe('yieldToEventLoop', () => {
  it('resolves with every timer frozen', async () => {
    vi.useFakeTimers();
    let done = 0;
    for (let i = 0; i < 100; i++) await yieldToEventLoop().then(() => done++);
    expect(done).toBe(100);
    expect(vi.getTimerCount()).toBe(0); // and it left no timer behind
  });

  it('lets an already queued event run first', async () => {
    const order: string[] = [];
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      order.push('queued event');
      port1.close();
    };
    port2.postMessage(null);
    await yieldToEventLoop();
    order.push('after the yield');
    expect(order).toEqual(['queued event', 'after the yield']);
  });
});

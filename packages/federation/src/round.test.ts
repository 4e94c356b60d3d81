import { describe, expect, it } from 'vitest';
import { RoundTracker, StepDeadline, type RoundOutcome } from './round';
import { FedAvgStrategy } from './strategy';

function fakeClock(start = 0) {
  let t = start;
  return { now: () => t, set: (v: number) => (t = v), advance: (ms: number) => (t += ms) };
}

const upload = (v: number, examples = 1) => ({ examples, tensors: { x: { shape: [1], data: new Float32Array([v]) } } });

describe('RoundTracker', () => {
  it('completes with the remaining clients when one disconnects mid-round', () => {
    const clock = fakeClock();
    const rt = new RoundTracker({ now: clock.now, uploadTimeoutMs: 10_000 });
    rt.open(0, ['a', 'b', 'c']);
    expect(rt.phase).toBe('training');
    clock.advance(500);
    expect(rt.fail('b', 'disconnect')).toBe(true);
    expect(rt.fail('b', 'disconnect')).toBe(false); // already settled
    rt.requestUploads();
    expect(rt.phase).toBe('uploading');
    expect(rt.submit('a', 0, upload(1))).toEqual({ ok: true });
    expect(rt.tick()).toBeNull(); // c still pending
    expect(rt.submit('c', 0, upload(3))).toEqual({ ok: true });
    const out = rt.tick()!;
    expect(out.closedBy).toBe('complete');
    expect(out.results.map((r) => r.clientId)).toEqual(['a', 'c']);
    expect(out.failures).toEqual([{ clientId: 'b', reason: 'disconnect' }]);
    expect(rt.tick()).toBeNull(); // the outcome is returned once
    expect(rt.round).toBeNull();

    const agg = new FedAvgStrategy().aggregate(out.round, out.results, out.failures);
    expect(agg.participants).toEqual(['a', 'c']);
    expect(agg.tensors!.x.data[0]).toBe(2);
  });

  it('excludes stragglers with reason "deadline" when the upload window ends', () => {
    const clock = fakeClock(1000);
    const rt = new RoundTracker({ now: clock.now, uploadTimeoutMs: 5000 });
    rt.open(4, ['a', 'b', 'c']);
    expect(rt.requestUploads()).toBe(6000);
    rt.submit('a', 4, upload(1));
    clock.set(5999);
    expect(rt.tick()).toBeNull();
    expect(rt.pending()).toEqual(['b', 'c']);
    clock.set(6000);
    // Arrived after the deadline but before the tick: refused, the straggler is still excluded.
    expect(rt.submit('b', 4, upload(2))).toMatchObject({ ok: false, reason: 'late' });
    const out = rt.tick()!;
    expect(out).toMatchObject({ round: 4, closedBy: 'deadline', openedAt: 1000, closedAt: 6000 });
    expect(out.results.map((r) => r.clientId)).toEqual(['a']);
    expect(out.failures).toEqual([
      { clientId: 'b', reason: 'deadline' },
      { clientId: 'c', reason: 'deadline' },
    ]);
    expect(rt.submit('c', 4, upload(3))).toMatchObject({ ok: false, reason: 'stale-round' });
  });

  it('does not expect a late joiner in the current round, but does in the next', () => {
    const clock = fakeClock();
    const rt = new RoundTracker({ now: clock.now, uploadTimeoutMs: 1000 });
    rt.open(0, ['a', 'b']);
    // 'c' connects now.
    expect(rt.isExpected('c')).toBe(false);
    rt.requestUploads();
    expect(rt.submit('c', 0, upload(9))).toMatchObject({ ok: false, reason: 'not-expected' });
    rt.submit('a', 0, upload(1));
    rt.submit('b', 0, upload(2));
    const out = rt.tick()!;
    expect(out.closedBy).toBe('complete');
    expect(out.expected).toEqual(['a', 'b']);
    expect(out.results).toHaveLength(2);

    rt.open(1, new FedAvgStrategy().configureRound(1, ['a', 'b', 'c'].map((clientId) => ({ clientId, examples: 1 }))));
    expect(rt.isExpected('c')).toBe(true);
    expect(rt.pending()).toEqual(['a', 'b', 'c']);
  });

  it('rejects duplicate, stale, future and round-less uploads as verdicts', () => {
    const clock = fakeClock();
    const rt = new RoundTracker({ now: clock.now, uploadTimeoutMs: 1000 });
    expect(rt.submit('a', 0, upload(1))).toMatchObject({ ok: false, reason: 'no-round' });
    rt.open(2, ['a', 'b']);
    rt.requestUploads();
    expect(rt.submit('a', 2, upload(1))).toEqual({ ok: true });
    expect(rt.submit('a', 2, upload(1))).toMatchObject({ ok: false, reason: 'duplicate' });
    expect(rt.submit('b', 1, upload(1))).toMatchObject({ ok: false, reason: 'stale-round' });
    expect(rt.submit('b', 3, upload(1))).toMatchObject({ ok: false, reason: 'future-round' });
    expect(rt.fail('a', 'disconnect')).toBe(false); // a has uploaded: its result stands
    const out = rt.abort('stopped')!;
    expect(out.closedBy).toBe('aborted');
    expect(out.results.map((r) => r.clientId)).toEqual(['a']);
    expect(out.failures).toEqual([{ clientId: 'b', reason: 'stopped' }]);
    expect(rt.submit('b', 2, upload(1))).toMatchObject({ ok: false, reason: 'stale-round' });
  });

  it('guards against API misuse', () => {
    const rt = new RoundTracker({ now: () => 0, uploadTimeoutMs: 1000 });
    expect(() => rt.requestUploads()).toThrow(/open\(\) first/);
    rt.open(0, ['a']);
    expect(() => rt.open(1, ['a'])).toThrow(/round 0 is still open/);
    rt.abort();
    expect(() => rt.open(0, ['a'])).toThrow(/above the last closed round 0/);
    expect(() => new RoundTracker({ now: () => 0, uploadTimeoutMs: 0 })).toThrow(/uploadTimeoutMs/);
  });

  it('closes at once when every expected client has failed, so the caller keeps the previous average', () => {
    const rt = new RoundTracker({ now: () => 0, uploadTimeoutMs: 1000 });
    rt.open(0, ['a', 'b']);
    rt.fail('a', 'disconnect');
    expect(rt.tick()).toBeNull();
    rt.fail('b', 'disconnect');
    const out = rt.tick()!;
    expect(out.closedBy).toBe('complete');
    expect(new FedAvgStrategy().aggregate(out.round, out.results, out.failures).tensors).toBeNull();
  });
});

describe('StepDeadline', () => {
  it('reports a client past its step deadline once, and it is dropped from the round', () => {
    const clock = fakeClock();
    const steps = new StepDeadline({ now: clock.now, timeoutMs: 1000 });
    const rt = new RoundTracker({ now: clock.now, uploadTimeoutMs: 5000 });
    rt.open(0, ['a', 'b']);
    steps.arm('a');
    steps.arm('b');
    clock.set(600);
    steps.arm('a'); // a stepped: its clock restarts
    expect(steps.deadlineOf('a')).toBe(1600);
    clock.set(999);
    expect(steps.expired()).toEqual([]);
    clock.set(1000);
    const late = steps.expired();
    expect(late).toEqual(['b']);
    expect(steps.expired()).toEqual([]); // reported once
    for (const id of late) rt.fail(id, 'step-deadline');

    steps.disarm('a'); // a moves on to uploading
    clock.set(5000);
    expect(steps.expired()).toEqual([]);
    rt.requestUploads();
    expect(rt.submit('b', 0, upload(1))).toMatchObject({ ok: false, reason: 'already-failed' });
    rt.submit('a', 0, upload(2));
    const out = rt.tick()!;
    expect(out.closedBy).toBe('complete');
    expect(out.results.map((r) => r.clientId)).toEqual(['a']);
    expect(out.failures).toEqual([{ clientId: 'b', reason: 'step-deadline' }]);
  });

  it('gives the same outcome for the same script of events (deterministic)', () => {
    const run = (): RoundOutcome => {
      const clock = fakeClock();
      const rt = new RoundTracker({ now: clock.now, uploadTimeoutMs: 100 });
      rt.open(0, ['c', 'a', 'b', 'a']);
      rt.requestUploads();
      clock.advance(10);
      rt.submit('b', 0, upload(1));
      rt.fail('c', 'disconnect');
      clock.advance(200);
      return rt.tick()!;
    };
    const first = run();
    expect(first.expected).toEqual(['c', 'a', 'b']);
    expect(first.failures).toEqual([
      { clientId: 'c', reason: 'disconnect' },
      { clientId: 'a', reason: 'deadline' },
    ]);
    expect(run()).toEqual(first);
  });
});

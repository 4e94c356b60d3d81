// For the protocol tests (vitest).
import { ProtocolError } from '@splitlora/protocol';
import { expect } from 'vitest';

/** The code of the ProtocolError that `f` throws (fails the test if it throws anything else or nothing). */
export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return (e as ProtocolError).code;
  }
  throw new Error('expected a ProtocolError');
}

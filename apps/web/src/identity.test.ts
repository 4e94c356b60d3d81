import { describe, expect, it } from 'vitest';
import { loadIdentity, saveIdentity } from './identity';

function memory() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), m };
}

describe('volunteer identity in sessionStorage', () => {
  it('round-trips, and reads nothing from an empty, broken or foreign entry', () => {
    const s = memory();
    expect(loadIdentity(s)).toBeNull();
    saveIdentity(s, { clientId: 'c-1', resumeToken: 'tok' });
    expect(loadIdentity(s)).toEqual({ clientId: 'c-1', resumeToken: 'tok' });
    s.m.set('splitlora.volunteer', '{not json');
    expect(loadIdentity(s)).toBeNull();
    s.m.set('splitlora.volunteer', JSON.stringify({ clientId: 7 }));
    expect(loadIdentity(s)).toBeNull();
  });

  it('a storage that refuses writes is not an error', () => {
    expect(() => saveIdentity({ setItem: () => { throw new Error('QuotaExceededError'); } }, { clientId: 'c', resumeToken: 't' })).not.toThrow();
  });
});

import { describe, expect, it } from 'vitest';
import { loadIdentity, loadNoiseKey, saveIdentity } from './identity';

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

  it('the noise key is 32 random bytes made once per tab and kept; a broken entry is replaced', () => {
    const s = memory();
    const key = loadNoiseKey(s);
    expect(key.length).toBe(32);
    expect(new Set(key).size).toBeGreaterThan(8); // random bytes, not a constant
    expect(loadNoiseKey(s)).toEqual(key);
    expect(loadNoiseKey(memory())).not.toEqual(key);
    s.m.set('splitlora.noiseKey', 'junk');
    const fresh = loadNoiseKey(s);
    expect(fresh.length).toBe(32);
    expect(fresh).not.toEqual(key);
    expect(loadNoiseKey(s)).toEqual(fresh);
  });
});

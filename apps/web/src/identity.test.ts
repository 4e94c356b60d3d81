import { describe, expect, it } from 'vitest';
import { loadIdentity, loadNoiseSeed, saveIdentity } from './identity';

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

  it('the noise seed is made once per tab and kept; a broken entry is replaced', () => {
    const s = memory();
    const seed = loadNoiseSeed(s);
    expect(Number.isInteger(seed) && seed > 0).toBe(true);
    expect(loadNoiseSeed(s)).toBe(seed);
    s.m.set('splitlora.noiseSeed', 'junk');
    const fresh = loadNoiseSeed(s);
    expect(Number.isInteger(fresh) && fresh > 0).toBe(true);
    expect(loadNoiseSeed(s)).toBe(fresh);
  });
});

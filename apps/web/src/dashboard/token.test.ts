import { describe, expect, it } from 'vitest';
import { TokenStore, tokenFromHash } from './token';

describe('operator token', () => {
  it('is read from the URL fragment', () => {
    expect(tokenFromHash('#token=abc123')).toBe('abc123');
    expect(tokenFromHash('#run=r1&token=x%2By')).toBe('x+y');
    expect(tokenFromHash('#token=')).toBeNull();
    expect(tokenFromHash('')).toBeNull();
  });

  it('is kept in storage, and moved out of the address bar', () => {
    const map = new Map<string, string>();
    const store = new TokenStore({ getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) });
    let replaced: string | null = null;
    store.adoptFromLocation({ hash: '#token=t0k', pathname: '/dashboard.html', search: '?x=1' } as Location, { replaceState: (_s: unknown, _t: string, url: string) => { replaced = url; } } as unknown as History);
    expect(store.get()).toBe('t0k');
    expect(replaced).toBe('/dashboard.html?x=1');
    store.set(null);
    expect(store.get()).toBeNull();
  });
});

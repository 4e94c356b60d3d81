// The operator token: from the URL fragment (`dashboard.html#token=…`, as the server prints it)
// or typed in; kept in sessionStorage so a reload keeps it but a new browser session does not.

const KEY = 'splitlora.operatorToken';

/** The token in a fragment like "#token=abc" (other fragment parameters are allowed), or null. */
export function tokenFromHash(hash: string): string | null {
  const t = new URLSearchParams(hash.replace(/^#/, '')).get('token');
  return t && t.trim() ? t.trim() : null;
}

export class TokenStore {
  constructor(private readonly storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>) {}

  get(): string | null {
    return this.storage.getItem(KEY);
  }

  set(token: string | null): void {
    if (token) this.storage.setItem(KEY, token);
    else this.storage.removeItem(KEY);
  }

  /** Takes the token out of the address bar (so it is not shared with a copied link) into storage. */
  adoptFromLocation(loc: Location, history: History): void {
    const t = tokenFromHash(loc.hash);
    if (!t) return;
    this.set(t);
    history.replaceState(null, '', loc.pathname + loc.search);
  }
}

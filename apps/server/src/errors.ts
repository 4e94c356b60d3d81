// The server's domain errors: what went wrong, in the run's terms. Only the HTTP layer (api.ts)
// turns a kind into a status code; the socket layer has its own ProtocolError codes.

export type DomainErrorKind = 'invalid' | 'not-found' | 'conflict';

export class DomainError extends Error {
  constructor(readonly kind: DomainErrorKind, readonly code: string, message: string) {
    super(message);
  }
}

/** A request the server will not carry out as asked (bad settings, a path outside the data root). */
export const invalid = (message: string, code = 'E_BAD_REQUEST') => new DomainError('invalid', code, message);
export const notFound = (message: string) => new DomainError('not-found', 'E_NOT_FOUND', message);
export const conflict = (message: string) => new DomainError('conflict', 'E_CONFLICT', message);

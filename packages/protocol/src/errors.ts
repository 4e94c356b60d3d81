// Every protocol error code, defined in one place. A ProtocolError carries one code and one
// message that says what was wrong and what to do; the server sends both to the client in an
// `error` message, so the messages must not leak secrets (tokens) or internals (stacks).

export const ERROR_CODES = {
  /** Bytes on the socket are not a msgpack socket.io packet. The connection is closed. */
  E_DECODE: 'the bytes received are not a valid msgpack socket.io packet',
  /** The payload does not match the message's schema (missing field, wrong type). */
  E_SCHEMA: 'the message does not match its schema',
  /** Tensor shapes disagree with each other, with the data length or with the model. */
  E_SHAPE: 'a tensor has the wrong shape or length',
  /** A tensor holds NaN or ±Infinity, or a value its wire format cannot hold. */
  E_NONFINITE: 'a tensor holds NaN or Infinity',
  /** A value is out of its allowed range (token id, mask value, example count, adapter norm). */
  E_RANGE: 'a value is out of range',
  /** The message is larger than the run allows (batch, sequence length, bytes). */
  E_TOO_LARGE: 'the message is larger than the run allows',
  /** The sender speaks another protocol version. */
  E_VERSION: 'unsupported protocol version',
  /** The message name is not part of the protocol. */
  E_UNKNOWN_TYPE: 'unknown message type',
  /** The message arrived at the wrong time (before hello, stale or duplicate round, wrong run). */
  E_ORDER: 'the message arrived out of order',
  /** The client id / resume token pair does not match. */
  E_AUTH: 'the client id and resume token do not match',
  /** The server cannot take more clients now. */
  E_CAPACITY: 'the server has no room for another client',
  /**
   * The server's compute failed (its worker died or its backend aborted); the step was not applied.
   * The run pauses and restarts the round from its last aggregation: send the step again then.
   */
  E_COMPUTE: 'the server compute failed; the step was not applied',
  /** The server failed while handling a valid message. */
  E_INTERNAL: 'internal server error',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isProtocolError(e: unknown): e is ProtocolError {
  return e instanceof ProtocolError;
}

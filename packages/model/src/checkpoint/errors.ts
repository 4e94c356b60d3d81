// One error type for everything under checkpoint/: a stable code for programs, a message for people.
// Malformed safetensors bytes throw @splitlora/tensor's TensorError, with the same codes.
export { fmtShape } from '@splitlora/tensor';

export type CheckpointErrorCode =
  | 'TRUNCATED'          // file shorter than its header says
  | 'BAD_HEADER'         // config.json or checkpoint metadata is not valid JSON or malformed
  | 'MISSING_FILE'
  | 'MISSING_TENSOR'
  | 'SHAPE_MISMATCH'
  | 'UNEXPECTED_TENSOR'
  | 'BAD_ADAPTER'        // PEFT adapter we cannot represent or that contradicts its config
  | 'DOWNLOAD_FAILED'
  | 'BAD_SOURCE';        // model source is neither a directory nor a valid hub id

export class CheckpointError extends Error {
  constructor(
    readonly code: CheckpointErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CheckpointError';
  }
}

/** "a, b, c and 7 more": keeps error messages readable when many names are wrong. */
export function listNames(names: readonly string[], max = 8): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

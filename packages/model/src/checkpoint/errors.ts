// One error type for everything under checkpoint/: a stable code for programs, a message for people.

export type CheckpointErrorCode =
  | 'TRUNCATED'          // buffer/file shorter than its header says
  | 'BAD_HEADER'         // safetensors JSON header is not valid JSON or has malformed entries
  | 'UNSUPPORTED_DTYPE'  // a tensor we must decode is not F32/F16/BF16
  | 'BAD_OFFSETS'        // data_offsets out of range or not matching shape × dtype size
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

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

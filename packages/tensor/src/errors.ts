// One error type for the tensor package: a stable code for programs, a message for people.

export type TensorErrorCode =
  | 'TRUNCATED'          // buffer shorter than its safetensors header says
  | 'BAD_HEADER'         // safetensors JSON header is not valid JSON or has malformed entries
  | 'UNSUPPORTED_DTYPE'  // a tensor we must decode or write is not F32/F16/BF16
  | 'BAD_OFFSETS'        // data_offsets out of range or not matching shape × dtype size
  | 'SHAPE_MISMATCH'     // values that do not fill their shape, or records that disagree on a shape
  | 'BAD_WEIGHTS';       // weights of a mean that are negative, non-finite or sum to zero

export class TensorError extends Error {
  constructor(
    readonly code: TensorErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TensorError';
  }
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

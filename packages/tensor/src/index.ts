// @splitlora/tensor: the ground floor. Host tensors and named tensor records, float16, the seeded
// PRNG, safetensors files and the float64 weighted mean; no tfjs, no I/O beyond bytes.
export { numel, type HostTensor, type TensorRecord } from './host-tensor';
export { TensorError, fmtShape, type TensorErrorCode } from './errors';
export {
  bf16ArrayToF32, bf16ToF32, f16ArrayToF32, f16BitsToF32Bits, f16ToF32, f32ArrayToBf16, f32ArrayToF16,
  f32BitsToBf16Bits, f32BitsToF16Bits, f32ToBf16, f32ToF16, roundToBf16, roundToF16,
} from './float16';
export { fillNormal, hashString, sfc32 } from './prng';
export {
  SUPPORTED_DTYPES, decodeTensor, parseHeader, parseSafetensors, readHeaderLength, tensorBytes, writeSafetensors,
  type Dtype, type ParsedSafetensors, type SafetensorsHeader, type TensorInfo, type WriteOptions,
} from './safetensors';
export { weightedMean, type WeightedMeanOptions } from './weighted-mean';

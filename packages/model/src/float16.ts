// @splitlora/model/float16, kept for its importers: the conversions live in @splitlora/tensor.
export {
  bf16ArrayToF32, bf16ToF32, f16ArrayToF32, f16BitsToF32Bits, f16ToF32, f32ArrayToBf16, f32ArrayToF16,
  f32BitsToBf16Bits, f32BitsToF16Bits, f32ToBf16, f32ToF16, roundToBf16, roundToF16,
} from '@splitlora/tensor';

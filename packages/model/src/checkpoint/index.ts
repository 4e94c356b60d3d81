// Checkpoint I/O that runs in browsers and Node. Node-only file/network helpers: ./node.
export { CheckpointError, type CheckpointErrorCode } from './errors';
export {
  bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, roundToBf16, roundToF16,
  SUPPORTED_DTYPES, decodeTensor, parseHeader, parseSafetensors, readHeaderLength, writeSafetensors,
  type Dtype, type ParsedSafetensors, type SafetensorsHeader, type TensorInfo, type WriteOptions,
} from '@splitlora/tensor';
export {
  blockOf, checkGpt2Weights, clientTensorNames, gpt2ParamShapes, loadGpt2FromFiles, planGpt2Load,
  saveGpt2Files, serverTensorNames, type Gpt2Checkpoint, type Gpt2LoadPlan, type LoadOptions,
} from './hf-gpt2';
export { INITIALIZER_RANGE, initGpt2Weights } from './init';
export {
  LORA_TARGETS, isLoraTarget, loraDims, loraKey, parseLoraKey, qkvOffset,
  type LoraConfig, type LoraTarget,
} from './lora-types';
export { adapterFromPeft, adapterToPeft, validateLoraConfig, type PeftExportOptions, type PeftFiles } from './peft';

// @splitlora/model: GPT-2 in tfjs ops, LoRA, the split into client and server parts, loss,
// AdamW and checkpoints. Backend-free: the apps choose the tfjs backend (@splitlora/backend).
export * from './config';
// Host tensors, float16 and safetensors now live in @splitlora/tensor; re-exported so the apps'
// imports from here keep working.
export { numel, TensorError, type HostTensor, type TensorErrorCode, type TensorRecord } from '@splitlora/tensor';
export * from './gpt2';
export * from './lora';
export * from './loss';
export * from './adamw';
export * from './split';
export * from './checkpoint/index';
export * from './decode';
export * from './pretrain';

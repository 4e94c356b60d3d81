// @splitlora/tensor: the ground floor. Host tensors and named tensor records, float16, the seeded
// PRNG, safetensors files and the float64 weighted mean; no tfjs, no I/O beyond bytes.
export {};

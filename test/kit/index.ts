// The test kit: what tests across the repository share, kept out of the packages' src/ and out
// of the production bundle. Tests import the one module they need (test/kit/cli, …), which keeps
// a package's unit tests from loading what they do not use; this index lists them all.
// Playwright specs import only paths.ts, cli.ts and tiny.ts (the others use vitest).
//   paths.ts       the checkout, the CLI's entry, the shared fixtures, the E2E data look-ups
//   cli.ts         runCli: the real CLI as a subprocess
//   tiny.ts        the tiny GPT-2 configs, weights, models and simulation settings
//   temp.ts        temp folders for a test file, and a temporary random model (--model DIR)
//   wasm.ts        the wasm backend and a model's weights as tensors for a test file
//   split.ts       the split tests' model, LoRA settings and random adapters (not re-exported here: generic names)
//   checkpoint.ts  the checkpoint tests' model and their error and bit-exact checks
//   protocol.ts    codeOf: the code of the ProtocolError a call throws
export * from './paths';
export * from './cli';
export * from './tiny';
export * from './temp';
export * from './wasm';
export * from './checkpoint';
export * from './protocol';

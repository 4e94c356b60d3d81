// @splitlora/lab: the experiments (simulations, benchmarks, cost models, reports). Each is an
// Experiment the CLI calls; nothing here parses argv.
export {};

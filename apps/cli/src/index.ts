// @splitlora/cli: the `splitlora` command line (bin/splitlora.mjs runs ./main.ts); the commands call
// into @splitlora/lab (experiments, model sources), @splitlora/server and the packages.
export { createProgram, runCli } from './program';
export { scoreExamples, type ScoreResult } from './commands/score';

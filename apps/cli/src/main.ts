// Entry point run by bin/splitlora.mjs (tsx, no build step).
import { runCli } from './program';

process.exitCode = await runCli(process.argv);

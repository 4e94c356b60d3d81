// The `splitlora` command line: one commander program, one module per command.
import { Command } from 'commander';
import { attackCommand } from './commands/attack';
import { benchCommand } from './commands/bench';
import { benchBrowserCommand } from './commands/bench-browser';
import { benchEnginesCommand } from './commands/bench-engines';
import { benchPrivacyCommand } from './commands/bench-privacy';
import { benchScaleCommand } from './commands/bench-scale';
import { benchGpuCommand } from './commands/bench-gpu';
import { benchModelCommand } from './commands/bench-model';
import { benchServerCommand } from './commands/bench-server';
import { benchSplitCommand } from './commands/bench-split';
import { doctorCommand } from './commands/doctor';
import { evalCommand } from './commands/eval';
import { generateCommand } from './commands/generate';
import { initModelCommand } from './commands/init-model';
import { metricsCommand } from './commands/metrics';
import { nodeCommand } from './commands/node';
import { pretrainCommand } from './commands/pretrain';
import { scoreCommand } from './commands/score';
import { serveCommand } from './commands/serve';
import { simulateCommand } from './commands/simulate';

export function createProgram(): Command {
  const program = new Command('splitlora')
    .description('Split-federated LoRA fine-tuning of GPT-2 in TensorFlow.js. Results: the last stdout line of each command is one JSON object; logs go to stderr.')
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .addCommand(serveCommand())
    .addCommand(nodeCommand())
    .addCommand(doctorCommand())
    .addCommand(initModelCommand())
    .addCommand(pretrainCommand())
    .addCommand(scoreCommand())
    .addCommand(generateCommand())
    .addCommand(benchModelCommand())
    .addCommand(benchSplitCommand())
    .addCommand(benchServerCommand())
    .addCommand(benchEnginesCommand())
    .addCommand(benchBrowserCommand())
    .addCommand(benchGpuCommand())
    .addCommand(metricsCommand())
    .addCommand(evalCommand())
    .addCommand(simulateCommand())
    .addCommand(benchCommand())
    .addCommand(attackCommand())
    .addCommand(benchPrivacyCommand())
    .addCommand(benchScaleCommand());
  // Subcommands inherit neither help-after-error nor the output settings; set them on each.
  for (const c of program.commands) c.showHelpAfterError(`(run "splitlora ${c.name()} --help" for usage)`);
  return program;
}

/** A wasm abort or out-of-bounds access, or a backend's own out-of-memory message. */
export function isBackendMemoryError(e: unknown): boolean {
  if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) return true;
  return /Aborted\(|memory access out of bounds|out of memory|Cannot enlarge memory/i.test(e instanceof Error ? e.message : String(e));
}

/** Runs the CLI; returns the exit code. Known errors print one line, others their stack. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    // Our errors and the packages' (plain Error, or a coded CheckpointError / DataFileError / DataFormatError)
    // carry complete messages; a TypeError and the like is a bug, so show where it happened.
    const known = err.name === 'CliError' || err.name === 'Error' || typeof err.code === 'string';
    process.stderr.write(`splitlora: error: ${err.message}\n`);
    // A backend that ran out of memory is not a bug in the command: say what to change instead of a wasm stack.
    if (isBackendMemoryError(err)) {
      process.stderr.write('splitlora: the tfjs backend ran out of memory (wasm addresses at most 4 GB, and some of its kernels fail past 2 GB): use a smaller model, batch or --seq-len, or a GPU backend (--backend webgpu | tensorflow-gpu)\n');
      return 1;
    }
    if (!known || process.env.SPLITLORA_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

// simulate: one SplitLoRA run with N clients, in this process (--in-process, the default) or in
// headless Chromium tabs (--browser). Progress on stderr; with --json the last stdout line is
// {"method","clients","steps","aggregations","initialLoss","finalLoss","heldoutLoss","bytesUp","bytesDown","backends","wallSeconds"}.
import { Command } from 'commander';
import { selectNodeBackend } from '@splitlora/backend/node';
import { loadSimModel, simulate } from '@splitlora/lab';
import { engineFromFlags } from '../options';
import { CliError, log, printResult } from '../output';
import { experimentHooks } from '../progress';
import { addRunAndEngineOptions, simData, trainSettings, type RunEngineFlags } from '../run-options';

interface SimulateFlags extends RunEngineFlags {
  browser?: boolean;
  inProcess?: boolean;
  chromium?: string;
  browserBackend?: string;
  out?: string;
}

export function simulateCommand(): Command {
  const cmd = new Command(simulate.name).description(simulate.description);
  addRunAndEngineOptions(cmd)
    .option('--in-process', 'clients are Node volunteers in this process, over loopback sockets (default)')
    .option('--browser', 'clients are headless Chromium tabs running the volunteer page (needs a system Chromium; builds the test build of the page, dist/web-test, first when it is missing or stale)')
    .option('--chromium <path>', 'Chromium binary for --browser (default $CHROMIUM_PATH or /usr/bin/chromium)')
    .option('--browser-backend <name>', 'tfjs backend the tabs try first: webgpu, webgl, wasm or cpu (default: the page picks, WebGPU first)')
    .option('--out <dir>', 'write the final adapter (the clients\' average on blocks [0, cut) and the server\'s on the rest) as a PEFT directory, e.g. for `attack --adapter`')
    .addHelpText('after', '\nExample:\n  splitlora simulate --clients 3 --steps 20 --interval 5 --lr 1e-3 --json\n  splitlora simulate --browser --clients 2 --steps 8 --interval 4 --json')
    .action(async (o: SimulateFlags) => {
      if (o.browser && o.inProcess) throw new CliError('choose one of --browser and --in-process');
      const backend = await selectNodeBackend(o.backend, log);
      const engine = await engineFromFlags(o, log);
      const model = await loadSimModel(o.model, log);
      const settings = trainSettings(o, model);
      const data = await simData(o);
      const run = await simulate.run(
        { model, settings, data, mode: o.browser ? 'browser' : 'in-process', engine, backend, chromiumPath: o.chromium, browserBackend: o.browserBackend },
        experimentHooks((label) => `${label} [{bar}] {value}/{total} steps | loss {note} | ETA {eta_formatted}`),
      );
      const report = await simulate.report(run, o.out);
      if (o.out) log(`simulate: final adapter written to ${o.out} (adapter_config.json + adapter_model.safetensors)`);
      if (o.json) printResult(report.json);
      else process.stdout.write(report.text!);
    });
  return cmd;
}
